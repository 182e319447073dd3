"""Fixtures of the web tests: a fresh two-clinic world per test (see ``webworld.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from webworld import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)
