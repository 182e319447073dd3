"""Scoring responses: one at a time (:func:`score_response`) or a whole DataFrame at once
(:func:`score_frame`, vectorised with numpy — no per-row Python loop).

Both follow the instrument's :class:`~alliance.measures.instrument.ScoringRule` and give the
same numbers (a property test holds them to it):

* each answer is scored through its item (option score, integer value or 1/0), reverse items
  become ``min + max − score``;
* ``sum``: with ``k`` of ``n`` total items missing and ``k ≤ max_missing`` the total is
  ``(Σ present · n) / (n − k)``, rounded half up when ``round_prorated`` and ``k > 0``;
  ``mean``: ``Σ present / (n − k)``; with ``k > 0`` either is kept within the full-response
  range (only matters when items have different ranges); then × ``multiplier``;
* ``k > max_missing`` → the total is invalid (``valid`` False, total and band empty) — a
  result, not an error; subscales follow the same rule with their own ``max_missing`` and are
  reported even when the total is invalid;
* an answer that is not allowed for its item, or an unknown item, is a :class:`ScoringError`
  naming the (0-based) data row and the item.

Risk items (:attr:`~alliance.measures.instrument.Instrument.risk_items`, e.g. PHQ-9 item 9)
are read by :func:`risk_flags`: it returns one :class:`RiskFlag` per risk item whose answer
reaches the item's ``min_score`` — whatever the total, and even when the total is invalid.
:func:`stored_risk_flags` reads answers stored under an earlier definition: an answer the
current definition cannot read is flagged (``unreadable``) rather than raising or being dropped.

In a DataFrame, columns named like an item's linkId are items; every other column is an id
column and is kept as it is — except a column that starts with this instrument's linkId
prefix (``phq9_10`` for PHQ-9), which is reported as an unknown item because it is almost
certainly a typo. Output columns ``total``, ``band``, ``valid`` and ``subscale_<name>`` are
added (an input column of the same name is replaced).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.measures.instrument import Instrument, Item
from alliance.messages import Msg, message_of

__all__ = [
    "RiskFlag",
    "Score",
    "ScoringError",
    "item_prefix",
    "risk_flags",
    "score_frame",
    "score_response",
    "stored_risk_flags",
]

FloatArray = npt.NDArray[np.float64]


class ScoringError(ValueError):
    """An answer that cannot be scored; names the 0-based data row (if any) and the item."""

    def __init__(self, message: str, *, row: int | None = None, item: str | None = None):
        self.row = row
        self.item = item
        self.message = message
        where = ", ".join(
            part
            for part in (
                f"row {row}" if row is not None else "",
                f"item {item}" if item is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class Score:
    """The scored response.

    ``total`` is None when the response is invalid (too many missing items). ``missing``
    lists the scored items (in or out of the total) without an answer. ``item_scores`` are
    after reverse scoring.
    """

    total: float | None
    subscales: dict[str, float | None]
    band: str | None
    valid: bool
    missing: tuple[str, ...]
    reason: str | None = None
    prorated: bool = False
    item_scores: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RiskFlag:
    """An answer to a risk item at or above its threshold.

    ``score`` is the item score (after reverse scoring), ``label`` the instrument's
    clinician-facing label for the risk item, ``answer`` the label of the option chosen
    ("More than half the days"; None for non-choice items).

    ``unreadable`` is True for a stored answer the current definition of the item no longer
    accepts (see :func:`stored_risk_flags`): then ``answer`` is the stored value as text and
    ``score`` the item's threshold, since the real score cannot be known.
    """

    link_id: str
    score: float
    label: str
    answer: str | None = None
    unreadable: bool = False


def risk_flags(instrument: Instrument, answers: Mapping[str, object]) -> tuple[RiskFlag, ...]:
    """The risk items of ``instrument`` that ``answers`` (``{linkId: answer}``) endorse.

    Only the risk items are read; a missing answer flags nothing. An answer a risk item does
    not allow is a :class:`ScoringError` naming the item (as in :func:`score_response`).
    """
    flags: list[RiskFlag] = []
    for risk in instrument.risk_items:
        item = instrument.item(risk.link_id)
        answer = answers.get(risk.link_id)
        try:
            score = item.score_answer(answer)
        except ValueError as exc:
            raise ScoringError(message_of(exc), item=item.link_id) from None
        if score is None or score < risk.min_score:
            continue
        option = item.answer_option(answer)
        flags.append(
            RiskFlag(
                link_id=risk.link_id,
                score=score,
                label=risk.label,
                answer=option.label if option is not None else None,
            )
        )
    return tuple(flags)


def stored_risk_flags(
    instrument: Instrument, answers: Mapping[str, object]
) -> tuple[RiskFlag, ...]:
    """:func:`risk_flags` for answers stored earlier, which never raises on an answer.

    An instrument definition can change after answers were stored (an option renamed or
    removed). A stored answer to a risk item that the current definition cannot read is not
    dropped and does not fail the caller: it is flagged as a possible risk (``unreadable``
    True), because the client may have endorsed the item and only a clinician can tell.
    """
    flags: list[RiskFlag] = []
    for risk in instrument.risk_items:
        answer = answers.get(risk.link_id)
        try:
            # One risk item at a time, so an unreadable answer to one cannot hide another.
            flags.extend(
                flag
                for flag in risk_flags(instrument, {risk.link_id: answer})
                if flag.link_id == risk.link_id
            )
        except ScoringError:
            flags.append(
                RiskFlag(
                    link_id=risk.link_id,
                    score=risk.min_score,
                    label=risk.label,
                    answer=str(answer)[:40],
                    unreadable=True,
                )
            )
    return tuple(flags)


# -- one response ------------------------------------------------------------------------


def score_response(instrument: Instrument, answers: Mapping[str, object]) -> Score:
    """Score one response given as ``{linkId: answer}`` (missing keys = missing answers)."""
    known = set(instrument.link_ids)
    for key in answers:
        if key not in known:
            raise ScoringError(
                Msg("not an item of {instrument}", instrument=instrument.id), item=str(key)
            )
    item_scores: dict[str, float | None] = {}
    for item in instrument.items:
        if item.type == "text":
            continue  # free text is kept, never scored
        try:
            # An unscored choice item scores None but still takes only its own options.
            found = item.score_answer(answers.get(item.link_id))
        except ValueError as exc:
            raise ScoringError(message_of(exc), item=item.link_id) from None
        if item.scored:
            item_scores[item.link_id] = found

    rule = instrument.scoring
    total_ids = [i.link_id for i in instrument.total_items]
    total, missing_in_total = _combine_one(
        [item_scores[i] for i in total_ids],
        _range(instrument.total_items, rule.method),
        rule.method,
        rule.max_missing,
        rule.round_prorated,
    )
    reason = None
    if total is None:
        names = [i for i in total_ids if item_scores[i] is None]
        reason = (
            f"{len(names)} of {len(total_ids)} items missing ({', '.join(names)}); "
            f"at most {rule.max_missing} may be missing"
        )
    else:
        total = total * rule.multiplier
    subscales: dict[str, float | None] = {}
    for sub in instrument.subscales:
        value, _ = _combine_one(
            [item_scores[i] for i in sub.items],
            _range(instrument.subscale_items(sub.name), rule.method),
            rule.method,
            sub.max_missing,
            rule.round_prorated,
        )
        subscales[sub.name] = value
    return Score(
        total=total,
        subscales=subscales,
        band=instrument.band_for(total),
        valid=total is not None,
        missing=tuple(k for k, v in item_scores.items() if v is None),
        reason=reason,
        prorated=total is not None and missing_in_total > 0,
        item_scores=item_scores,
    )


def _range(items: Sequence[Item], method: str) -> tuple[float, float]:
    """The full-response range of a sum or mean of these items (before any multiplier)."""
    low, high = sum(i.score_min for i in items), sum(i.score_max for i in items)
    return (low / len(items), high / len(items)) if method == "mean" else (low, high)


def _combine_one(
    values: Sequence[float | None],
    bounds: tuple[float, float],
    method: str,
    max_missing: int,
    round_prorated: bool,
) -> tuple[float | None, int]:
    present = [v for v in values if v is not None]
    n_missing = len(values) - len(present)
    if n_missing > max_missing or not present:
        return None, n_missing
    # Accumulate in item order, exactly as the vectorised path does, so both agree to the bit.
    total = 0.0
    for value in present:
        total = total + value
    if not n_missing:
        return (total / len(present) if method == "mean" else total), 0
    if method == "mean":
        total = total / len(present)
    else:
        total = (total * len(values)) / len(present)
        if round_prorated:
            total = math.floor(total + 0.5)
    # Items with different ranges can prorate past the scale's end; keep it on the scale.
    return min(max(total, bounds[0]), bounds[1]), n_missing


# -- a whole DataFrame -----------------------------------------------------------------


def item_prefix(instrument: Instrument) -> str | None:
    """The linkId prefix shared by all items up to a separator (``phq9_``), if any.

    Used to tell a mistyped item column (``phq9_10``) from an id column.
    """
    ids = instrument.link_ids
    prefix = ids[0]
    for link_id in ids[1:]:
        while not link_id.startswith(prefix):
            prefix = prefix[:-1]
    cut = max(prefix.rfind(sep) for sep in "_.-")
    if cut < 1:
        return None
    return prefix[: cut + 1]


def score_frame(instrument: Instrument, df: pd.DataFrame) -> pd.DataFrame:
    """Score every row of ``df``; returns a copy with ``total``, ``band``, ``valid`` and
    ``subscale_<name>`` added. Vectorised: the work is a handful of numpy operations per item.
    """
    known = set(instrument.link_ids)
    prefix = item_prefix(instrument)
    columns = [str(c) for c in df.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise ScoringError(f"column {dup!r} appears more than once", item=dup)
    if prefix is not None:
        for column in columns:
            if column.startswith(prefix) and column not in known:
                raise ScoringError(
                    f"not an item of {instrument.id} (its items are "
                    f"{instrument.link_ids[0]}…{instrument.link_ids[-1]})",
                    item=column,
                )
    scored_present = [i for i in instrument.scored_items if i.link_id in columns]
    if not scored_present:
        raise ScoringError(
            f"no item columns of {instrument.id} found "
            f"(expected {', '.join(i.link_id for i in instrument.scored_items)})"
        )
    n = len(df)
    by_id: dict[str, FloatArray] = {}
    for item in instrument.scored_items:
        if item.link_id in columns:
            by_id[item.link_id] = _column_scores(item, df[item.link_id])
        else:
            by_id[item.link_id] = np.full(n, np.nan)

    rule = instrument.scoring
    total = _combine_many(
        [by_id[i.link_id] for i in instrument.total_items],
        _range(instrument.total_items, rule.method),
        n,
        rule.method,
        rule.max_missing,
        rule.round_prorated,
    )
    total = total * rule.multiplier
    out = df.copy(deep=False)  # copy-on-write: the caller's frame is never changed
    out["total"] = total
    out["band"] = _bands(instrument, total)
    out["valid"] = ~np.isnan(total)
    for sub in instrument.subscales:
        out[f"subscale_{sub.name}"] = _combine_many(
            [by_id[i] for i in sub.items],
            _range(instrument.subscale_items(sub.name), rule.method),
            n,
            rule.method,
            sub.max_missing,
            rule.round_prorated,
        )
    return out


def _combine_many(
    columns: Sequence[FloatArray],
    bounds: tuple[float, float],
    n: int,
    method: str,
    max_missing: int,
    round_prorated: bool,
) -> FloatArray:
    total = np.zeros(n)
    n_present = np.zeros(n)
    for scores in columns:
        present = ~np.isnan(scores)
        total = total + np.where(present, scores, 0.0)
        n_present += present
    n_items = len(columns)
    n_missing = n_items - n_present
    invalid = (n_missing > max_missing) | (n_present == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "mean":
            complete = total / n_present
            prorated = complete
        else:
            complete = total
            prorated = (total * n_items) / n_present
            if round_prorated:
                prorated = np.floor(prorated + 0.5)
        prorated = np.clip(prorated, bounds[0], bounds[1])
        result = np.where(n_missing > 0, prorated, complete)
    return np.where(invalid, np.nan, result)


def _bands(instrument: Instrument, total: FloatArray) -> pd.Categorical:
    """Band labels as a categorical column (categories in band order; no band = missing)."""
    index = np.full(len(total), -1, dtype=np.int64)
    # Lowest band first, so that where two bands touch the higher one wins (as band_for).
    for position, band in enumerate(instrument.bands):
        index[(total >= band.min) & (total <= band.max)] = position
    labels = pd.Index([b.label for b in instrument.bands], dtype=object)
    bands: pd.Categorical = pd.Categorical.from_codes(index, categories=labels)
    return bands


def _column_scores(item: Item, column: pd.Series) -> FloatArray:
    """Scores of one item column (NaN = missing), reverse scoring applied."""
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        raw = _numeric_scores(item, _as_float(column))
    else:
        raw = _text_scores(item, column)
    if item.reverse:
        raw = (item.score_min + item.score_max) - raw  # NaN stays NaN
    return raw


def _as_float(column: pd.Series) -> FloatArray:
    # Plain numpy columns convert without the copy that a na_value would force.
    if isinstance(column.dtype, np.dtype):
        return np.asarray(column.to_numpy(), dtype=np.float64)
    return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _numeric_scores(item: Item, values: FloatArray) -> FloatArray:
    missing = np.isnan(values)
    if item.type == "choice":
        # Only scored items come here, so every option has a score.
        numeric = [
            (float(o.code), o.score)
            for o in item.options
            if _is_number(o.code) and o.score is not None
        ]
        if numeric and _dense(numeric):
            return _table_scores(item, values, missing, numeric)
        if numeric:
            numeric.sort()
            codes = np.array([c for c, _ in numeric])
            scores = np.array([s for _, s in numeric])
            position = np.clip(np.searchsorted(codes, values), 0, len(codes) - 1)
            ok = codes[position] == values
            result = np.where(ok, scores[position], np.nan)
        else:
            ok = np.zeros(len(values), dtype=bool)
            result = np.full(len(values), np.nan)
        _raise_first(item, values, ~ok & ~missing)
        return result
    if item.type == "integer":
        low, high = item.score_min, item.score_max
        bad = ~missing & ((values != np.floor(values)) | (values < low) | (values > high))
        _raise_first(item, values, bad)
        return values.astype(np.float64, copy=True)
    # boolean
    bad = ~missing & (values != 0) & (values != 1)
    _raise_first(item, values, bad)
    return values.astype(np.float64, copy=True)


_TRUE_WORDS = {"true": 1.0, "yes": 1.0, "false": 0.0, "no": 0.0}


def _text_scores(item: Item, column: pd.Series) -> FloatArray:
    """Score an object/string column: exact option codes first, then numeric readings.

    Every step is a vectorised pandas string operation or a dictionary join.
    """
    as_text = column.astype("string").str.strip()
    missing = (as_text.isna() | (as_text == "")).to_numpy(dtype=bool, na_value=True)
    if item.type == "choice":
        scores = pd.Series({o.code: o.score for o in item.options}, dtype=np.float64)
        result: FloatArray = np.asarray(
            as_text.map(scores).to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64
        )
    else:
        result = np.full(len(column), np.nan)
    todo = np.isnan(result) & ~missing
    if todo.any():
        pending = as_text[todo]
        numbers = pd.to_numeric(pending, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        if item.type == "boolean":
            words = (
                pending.str.lower()
                .map(pd.Series(_TRUE_WORDS, dtype=np.float64))
                .to_numpy(dtype=np.float64, na_value=np.nan)
            )
            numbers = np.where(np.isnan(numbers), words, numbers)
        still = np.isnan(numbers)
        if still.any():
            row = int(np.flatnonzero(todo)[still][0])
            _raise_at(item, row, column.iloc[row])
        full = np.full(len(column), np.nan)
        full[todo] = numbers
        try:
            numeric_scores = _numeric_scores(item, full)
        except ScoringError as exc:
            # Report the answer as the file had it ("7", not 7.0).
            if exc.row is not None:
                _raise_at(item, exc.row, column.iloc[exc.row])
            raise
        result = np.where(todo, numeric_scores, result)
    return result


def _dense(numeric: list[tuple[float, float]]) -> bool:
    """Whole-number codes over a small span: a lookup table beats a sorted search."""
    codes = [c for c, _ in numeric]
    return all(c.is_integer() for c in codes) and max(codes) - min(codes) <= 4096


def _table_scores(
    item: Item,
    values: FloatArray,
    missing: npt.NDArray[np.bool_],
    numeric: list[tuple[float, float]],
) -> FloatArray:
    low = min(c for c, _ in numeric)
    table = np.full(int(max(c for c, _ in numeric) - low) + 1, np.nan)
    for code, score in numeric:
        table[int(code - low)] = score
    offset = values - low
    in_range = (offset >= 0) & (offset < len(table))  # False for NaN
    position = np.where(in_range, offset, 0).astype(np.intp)
    result = np.where(in_range & (position == offset), table[position], np.nan)
    _raise_first(item, values, np.isnan(result) & ~missing)
    return result


def _is_number(code: str) -> bool:
    try:
        return math.isfinite(float(code))
    except ValueError:
        return False


def _raise_first(item: Item, values: FloatArray, bad: npt.NDArray[np.bool_]) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        _raise_at(item, row, float(values[row]))


def _raise_at(item: Item, row: int, answer: object) -> None:
    try:
        item.score_answer(answer)
    except ValueError as exc:
        raise ScoringError(message_of(exc), row=int(row), item=item.link_id) from None
    # The single-answer path accepted what the column path refused: still an error here.
    raise ScoringError(f"answer {answer!r} cannot be scored", row=int(row), item=item.link_id)
