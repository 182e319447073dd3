"""The pinned public API: every name in ``alliance.__all__`` resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import alliance


@pytest.mark.parametrize("name", [n for n in alliance.__all__ if n != "__version__"])
def test_every_public_name_resolves_to_its_definition(name: str) -> None:
    value = getattr(alliance, name)
    assert getattr(value, "__name__", name) == name


def test_all_lists_exactly_the_lazily_resolved_names() -> None:
    assert sorted(alliance.__all__) == sorted(["__version__", *alliance._PUBLIC])


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = alliance.nope  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, alliance; "
        "mods = ('pandas', 'scipy', 'onnxruntime', 'sqlalchemy'); "
        "heavy = [m for m in mods if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_notebook_example_scores_a_phq9() -> None:
    phq9 = alliance.load_instrument("phq9")
    answers = {item.link_id: 1 for item in phq9.items}
    assert alliance.score_response(phq9, answers).total == 9.0
