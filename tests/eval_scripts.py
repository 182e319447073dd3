"""Loading a script of ``eval/`` (or another folder that is not a package) as a module, so a
test can call its pure functions: ``load_script("alert_burden")``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EVAL = Path(__file__).resolve().parents[1] / "eval"


def load_script(name: str, folder: Path = EVAL) -> ModuleType:
    """``folder/name.py`` run as the module ``name`` (registered in ``sys.modules``, which
    dataclasses and pickling inside the script need)."""
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
