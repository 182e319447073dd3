"""Tests mirror src: each module of the packages below has a test module at the mirrored path.

``src/alliance/services/checkins.py`` is tested in ``tests/services/test_checkins.py``. The
tests directories are not packages, so a test module's name must be unique across ``tests/``;
where the plain name is taken elsewhere, the package name goes in front
(``tests/matching/test_matching_assign.py``) or, for a service, ``_service`` goes behind
(``tests/services/test_alerts_service.py``, beside ``tests/monitoring/test_alerts.py``).

``cli``, ``web`` and ``transcripts`` are not checked yet: their tests are arranged by behaviour
(pages, commands, parsers) and are being reworked elsewhere.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "alliance"
TESTS = ROOT / "tests"
CHECKED = ("services", "store", "measures", "monitoring", "matching", "analysis")

#: Modules that need no test module of their own, each with the reason.
EXEMPT = {
    "services/_fhir.py": "private FHIR building for exports; tested through test_exports.py",
    "services/context.py": "a dataclass of collaborators, built by every service test's ctx",
    "services/errors.py": "exception classes only; their HTTP mapping is tested in tests/web",
    "store/models.py": "table declarations; test_migrations.py checks them against migrations",
    "store/matching_tables.py": "table declarations, as store/models.py",
}

#: Modules that should have a test module and do not yet: this list may only shrink.
NOT_YET = {
    "store/backup.py": "tested in tests/store/test_backup_restore.py: rename it test_backup.py",
    "store/encrypted.py": "tested in tests/store/test_encrypted_registry.py: rename it",
    "services/export_columns.py": "tested through tests/services/test_research_exports.py",
    "services/backups.py": "tested with store/backup.py in tests/store/test_backup_restore.py",
    "services/transcripts.py": "tested through tests/web/test_analysis_pages.py",
    "store/audit.py": "tested through tests/services/test_audit_trail.py",
    "monitoring/cohort.py": "tested through tests/services/test_trajectories.py",
    "analysis/labels.py": "tested through tests/analysis/test_classifiers.py",
}


def _modules() -> list[str]:
    found = []
    for package in CHECKED:
        for path in sorted((SRC / package).glob("*.py")):
            if path.name != "__init__.py":
                found.append(f"{package}/{path.name}")
    return found


def _mirrors(module: str) -> list[Path]:
    package, name = module.split("/")
    stem = name.removesuffix(".py").lstrip("_")
    names = [f"test_{stem}.py", f"test_{package}_{stem}.py"]
    if package == "services":
        names.append(f"test_{stem}_service.py")
    return [TESTS / package / n for n in names]


def _has_mirror(module: str) -> bool:
    return any(path.is_file() for path in _mirrors(module))


def test_every_checked_module_has_a_mirroring_test_module() -> None:
    missing = [
        f"{m}: add {_mirrors(m)[0].relative_to(ROOT)}"
        for m in _modules()
        if m not in EXEMPT and m not in NOT_YET and not _has_mirror(m)
    ]
    assert missing == []


def test_the_exemptions_name_real_modules_and_the_gaps_are_still_gaps() -> None:
    modules = set(_modules())
    assert set(EXEMPT) <= modules
    assert set(NOT_YET) <= modules
    closed = [m for m in NOT_YET if _has_mirror(m)]
    assert closed == [], "these have a test module now: remove them from NOT_YET"


def test_test_module_names_are_unique_across_the_suite() -> None:
    # tests/ has no __init__.py files: two test modules with one name cannot both be imported.
    counts = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, n in counts.items() if n > 1] == []
