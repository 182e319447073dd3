"""Fixtures for the monitoring tests."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from alliance.measures.instrument import Instrument
from alliance.measures.registry import load_instrument


@pytest.fixture(scope="session")
def instruments() -> Mapping[str, Instrument]:
    return {i: load_instrument(i) for i in ("wai_sr", "phq9", "session_feedback")}
