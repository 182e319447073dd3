"""Builders shared by the measures tests: small synthetic instruments and their answers."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from alliance.measures.instrument import Instrument


def instrument_data(**overrides: Any) -> dict[str, Any]:
    """A minimal valid instrument definition (three 0-3 items, sum) to edit in a test."""
    options = [{"code": c, "label": f"answer {c}", "score": c} for c in range(4)]
    data: dict[str, Any] = {
        "id": "toy",
        "title": "Toy scale",
        "version": "1",
        "citation": "Test fixture",
        "licence": "Test fixture",
        "kind": "other",
        "direction": "higher_is_worse",
        "items": [
            {"linkId": f"toy_{i}", "text": f"Item {i}", "options": options} for i in (1, 2, 3)
        ],
        "scoring": {"method": "sum", "max_missing": 1},
    }
    data.update(overrides)
    return data


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    """Random small instruments: choice and integer items, reverse flags, sum or mean,
    a multiplier, subscales and missing-item allowances."""
    n_items = draw(st.integers(1, 6))
    items: list[dict[str, Any]] = []
    for index in range(n_items):
        link_id = f"x_{index + 1}"
        reverse = draw(st.booleans())
        if draw(st.booleans()):
            scores = draw(st.lists(st.integers(-3, 6), min_size=2, max_size=5))
            codes = draw(
                st.lists(
                    st.integers(0, 20), min_size=len(scores), max_size=len(scores), unique=True
                )
            )
            options = [
                {"code": code, "label": f"a{code}", "score": score}
                for code, score in zip(codes, scores, strict=True)
            ]
            items.append(
                {"linkId": link_id, "text": link_id, "options": options, "reverse": reverse}
            )
        else:
            low = draw(st.integers(-2, 3))
            high = draw(st.integers(low + 1, low + 10))
            items.append(
                {
                    "linkId": link_id,
                    "text": link_id,
                    "type": "integer",
                    "min_value": low,
                    "max_value": high,
                    "reverse": reverse,
                }
            )
    subscales = []
    if n_items >= 2:
        members = draw(
            st.lists(st.sampled_from([i["linkId"] for i in items]), min_size=1, unique=True)
        )
        subscales.append(
            {
                "name": "part",
                "items": members,
                "max_missing": draw(st.integers(0, len(members) - 1)),
            }
        )
    method = draw(st.sampled_from(["sum", "mean"]))
    data = {
        "id": "random",
        "title": "Random",
        "version": "1",
        "citation": "generated",
        "licence": "generated",
        "kind": "other",
        "direction": draw(st.sampled_from(["higher_is_better", "higher_is_worse"])),
        "items": items,
        "subscales": subscales,
        "scoring": {
            "method": method,
            "max_missing": draw(st.integers(0, n_items - 1)),
            "round_prorated": draw(st.booleans()),
            "multiplier": draw(st.sampled_from([1, 2, 4, 0.5])),
        },
    }
    return Instrument.model_validate(data)


def answers_for(
    instrument: Instrument, missing_rate: float = 0.3
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid answers (code or number) for each item, each possibly missing."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for item in instrument.scored_items:
        if item.type == "choice":
            valid: st.SearchStrategy[Any] = st.sampled_from([int(o.code) for o in item.options])
        else:
            assert item.min_value is not None
            assert item.max_value is not None
            valid = st.integers(item.min_value, item.max_value)
        fields[item.link_id] = st.one_of(st.none(), valid) if missing_rate else valid
    return st.fixed_dictionaries(fields)
