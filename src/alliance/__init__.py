"""Alliance: measure and strengthen the client-therapist relationship.

The names in ``__all__`` are the pinned public API for notebooks and scripts (see
``docs/architecture.md``); everything else may change between minor versions. They are
resolved lazily, so ``import alliance`` stays cheap and has no side effects: pandas, scipy or
onnxruntime load only when a name that needs them is first used.

>>> import alliance
>>> phq9 = alliance.load_instrument("phq9")
>>> alliance.score_response(phq9, {f"phq9_{i}": 1 for i in range(1, 10)}).total
9.0
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from alliance._version import __version__

# Public name -> module that defines it.
_PUBLIC: dict[str, str] = {
    # measures
    "Instrument": "alliance.measures.instrument",
    "load_instrument": "alliance.measures.registry",
    "list_instruments": "alliance.measures.registry",
    "score_response": "alliance.measures.scoring",
    "score_frame": "alliance.measures.scoring",
    "classify_change": "alliance.measures.change",
    "classify_instrument_change": "alliance.measures.change",
    "cronbach_alpha": "alliance.measures.psychometrics",
    "fit_trajectories": "alliance.measures.trajectory",
    "not_on_track": "alliance.measures.trajectory",
    "instrument_to_questionnaire": "alliance.measures.fhir",
    "questionnaire_to_instrument": "alliance.measures.fhir_import",
    # monitoring
    "Timeline": "alliance.monitoring.timeline",
    "ScorePoint": "alliance.monitoring.timeline",
    "Attendance": "alliance.monitoring.timeline",
    "FitAnswer": "alliance.monitoring.timeline",
    "AlertSettings": "alliance.monitoring.alerts",
    "evaluate_alerts": "alliance.monitoring.alerts",
    # transcripts and analysis
    "parse_transcript": "alliance.transcripts",
    "Analyzer": "alliance.analysis.pipeline",
    "load_coder": "alliance.analysis.classifiers",
    # matching
    "rank_matches": "alliance.matching",
    "assign_queue": "alliance.matching",
    "estimate_strengths": "alliance.matching",
    "propose_rematch": "alliance.matching",
    # settings
    "Settings": "alliance.config",
}

# Written out (not derived from _PUBLIC) so linters and IDEs see it; a test keeps both in step.
__all__ = [
    "AlertSettings",
    "Analyzer",
    "Attendance",
    "FitAnswer",
    "Instrument",
    "ScorePoint",
    "Settings",
    "Timeline",
    "__version__",
    "assign_queue",
    "classify_change",
    "classify_instrument_change",
    "cronbach_alpha",
    "estimate_strengths",
    "evaluate_alerts",
    "fit_trajectories",
    "instrument_to_questionnaire",
    "list_instruments",
    "load_coder",
    "load_instrument",
    "not_on_track",
    "parse_transcript",
    "propose_rematch",
    "questionnaire_to_instrument",
    "rank_matches",
    "score_frame",
    "score_response",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from alliance.analysis.classifiers import load_coder
    from alliance.analysis.pipeline import Analyzer
    from alliance.config import Settings
    from alliance.matching import (
        assign_queue,
        estimate_strengths,
        propose_rematch,
        rank_matches,
    )
    from alliance.measures.change import classify_change, classify_instrument_change
    from alliance.measures.fhir import instrument_to_questionnaire
    from alliance.measures.fhir_import import questionnaire_to_instrument
    from alliance.measures.instrument import Instrument
    from alliance.measures.psychometrics import cronbach_alpha
    from alliance.measures.registry import list_instruments, load_instrument
    from alliance.measures.scoring import score_frame, score_response
    from alliance.measures.trajectory import fit_trajectories, not_on_track
    from alliance.monitoring.alerts import AlertSettings, evaluate_alerts
    from alliance.monitoring.timeline import Attendance, FitAnswer, ScorePoint, Timeline
    from alliance.transcripts import parse_transcript


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'alliance' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
