"""Measures: questionnaires defined as data, scored and interpreted.

* :mod:`alliance.measures.instrument` — the :class:`Instrument` model (items, subscales,
  scoring rule, bands, direction, reliable-change parameters, cut-off, alert thresholds);
* :mod:`alliance.measures.registry` — loading the bundled YAML files and a user directory;
* :mod:`alliance.measures.scoring` — scoring one response or a whole DataFrame (vectorised);
* :mod:`alliance.measures.fhir` — FHIR R4 Questionnaire / QuestionnaireResponse / Observation,
  Patients and the self-contained export Bundle; :mod:`alliance.measures.fhir_extensions` —
  our extensions' StructureDefinitions; :mod:`alliance.measures.fhir_import` — reading any
  Questionnaire;
* change, trajectories and psychometrics live in their own modules beside these.
"""
