"""De-identified exports hold nothing that points back at a person: every CSV, Parquet and FHIR
file of the demo clinic (plus a client with an e-mail address and an ended episode) is scanned
for each date, name, e-mail address, free text and raw database id stored in the database."""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from clinic_world import full_answers
from sqlalchemy import select

from alliance.demo import DemoInfo
from alliance.services import auth, checkins, clients, exports, goals
from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.store.crypto import is_encrypted
from alliance.store.db import transaction
from alliance.store.encrypted import EncryptedJson, EncryptedText
from alliance.store.models import Base, encrypted_columns

ADMIN = "admin@riverside.example"
EXTRA_NAME = "Priya Raman"
EXTRA_EMAIL = "priya.raman@mail.example"
EXTRA_GOAL = "Walk to the allotment twice a week"
EXTRA_COMMENT = "My sister Meena came with me to the appointment"

# A date or a time of day, however written: 2026-03-02, 02/03/2026, 14:25, 2026-03-02T14:25:07.
DATE_PATTERNS = (
    re.compile(r"\d{4}-\d{2}-\d{2}"),
    re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"),
    re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\b"),
)
NAME_COLUMNS = {"display_name", "email", "name"}
# Seconds, milliseconds, microseconds and nanoseconds since 1970: a date hidden in a number.
EPOCH_SCALES = (1, 10**3, 10**6, 10**9)


@dataclass
class Facts:
    """What the database holds that a de-identified export must not."""

    ids: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    times: list[datetime] = field(default_factory=list)

    def epoch_ranges(self) -> list[tuple[float, float]]:
        low, high = min(self.times).timestamp(), max(self.times).timestamp()
        return [(low * scale, high * scale) for scale in EPOCH_SCALES]


def _is_id_column(name: str) -> bool:
    return name == "id" or name.endswith("_id") or name.endswith("_by")


def _facts(ctx: ServiceContext) -> Facts:
    """Every raw id, name, e-mail, free text (decrypted) and timestamp in the database."""
    specs = {(loc.table.name, loc.column.name): loc.spec for loc in encrypted_columns()}
    facts = Facts()
    with transaction(ctx.session_factory) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column in table.columns:
                    value = row[column.name]
                    spec = specs.get((table.name, column.name))
                    if value is None:
                        continue
                    if isinstance(value, datetime):
                        facts.times.append(value)
                    elif isinstance(spec, EncryptedText):
                        facts.texts.add(ctx.cipher.decrypt(value, field=spec.field))
                    elif isinstance(spec, EncryptedJson):
                        for key, item in value.items():
                            if is_encrypted(item):
                                text = ctx.cipher.decrypt(item, field=spec.field(key, row))
                                facts.texts.add(text)
                    elif isinstance(value, int) and not isinstance(value, bool):
                        if column.primary_key or column.foreign_keys or _is_id_column(column.name):
                            facts.ids.add(str(value))
                    elif column.name in NAME_COLUMNS and isinstance(value, str):
                        facts.names.add(value)
                    elif (table.name, column.name) == ("alerts", "reason"):
                        facts.texts.add(value)  # written by the rules for one client
    # A short text (a one-word comment) would match by chance; names are matched as words.
    facts.texts = {t.strip() for t in facts.texts if len(t.strip()) >= 8}
    return facts


# --- what the exports hold, as (field name, value) pairs -------------------------------------


def _csv_cells(data: bytes) -> Iterator[tuple[str, object]]:
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    for column in frame.columns:
        for value in frame[column]:
            yield column, value


def _parquet_cells(data: bytes) -> Iterator[tuple[str, object]]:
    table = pq.read_table(io.BytesIO(data))
    for name in table.column_names:
        # Timestamp and date columns come back as datetime / date values.
        for value in table.column(name).to_pylist():
            yield name, value


def _fhir_cells(node: object, key: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        if isinstance(node.get("value"), str) and "system" in node:
            yield "identifier", node["value"]  # an Identifier: its value is an id
        for child_key, child in node.items():
            yield from _fhir_cells(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from _fhir_cells(child, key)
    elif key == "reference" and isinstance(node, str):
        yield "reference_id", node.rsplit("/", 1)[-1]
        yield key, node
    else:
        yield key, node


def _frame_cells(frame: pd.DataFrame) -> Iterator[tuple[str, object]]:
    for column in frame.columns:
        for value in frame[column]:
            yield column, None if pd.isna(value) else value


def _stat_cells(filename: str, data: bytes) -> Iterator[tuple[str, object]]:
    """Cells of an SPSS, Stata or R file, read back by the libraries researchers use."""
    import pyreadr
    import pyreadstat

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        if filename.endswith(".rds"):
            frame = pyreadr.read_r(str(path))[None]
        else:
            read = pyreadstat.read_sav if filename.endswith(".sav") else pyreadstat.read_dta
            frame, meta = read(str(path))
            yield "file_label", meta.file_label
            yield from (("column_label", label) for label in meta.column_labels)
    yield from _frame_cells(frame)


def _cells(files: dict[str, bytes]) -> Iterator[tuple[str, str, object]]:
    for filename, data in files.items():
        if filename.endswith(".csv"):
            cells = _csv_cells(data)
        elif filename.endswith(".parquet"):
            cells = _parquet_cells(data)
        elif filename.endswith((".sav", ".dta", ".rds")):
            cells = _stat_cells(filename, data)
        elif filename.endswith(".md"):
            cells = (("codebook", line) for line in data.decode().splitlines())
        else:
            cells = _fhir_cells(json.loads(data))
        for name, value in cells:
            yield filename, name, value


def _findings(files: dict[str, bytes], facts: Facts) -> set[str]:
    """Everything in ``files`` that points back at the database, one line per kind and field
    (empty when the export is clean)."""
    found: set[str] = set()
    name_patterns = [re.compile(rf"\b{re.escape(n)}\b") for n in facts.names]
    epochs = facts.epoch_ranges()
    for filename, name, value in _cells(files):
        where = f"{filename}:{name}"
        if isinstance(value, date):
            found.add(f"date in {where}: {value}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and any(low <= value <= high for low, high in epochs):  # type: ignore[operator]
            found.add(f"timestamp-like number in {where}: {value}")
        id_field = _is_id_column(name) or name in {"identifier", "reference_id"}
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # SPSS and Stata keep every number as a double
        if id_field and value is not None and str(value) in facts.ids:
            found.add(f"raw id in {where}")
        if not isinstance(value, str):
            continue
        if any(p.search(value) for p in DATE_PATTERNS):
            found.add(f"date in {where}: {value[:60]!r}")
        if any(p.search(value) for p in name_patterns):
            found.add(f"name or e-mail in {where}: {value[:60]!r}")
        if any(text in value for text in facts.texts):
            found.add(f"free text in {where}: {value[:60]!r}")
    return found


# --- the clinic ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clinic:
    ctx: ServiceContext
    admin: Actor
    facts: Facts


@pytest.fixture(scope="module")
def clinic(module_demo: tuple[ServiceContext, DemoInfo]) -> Clinic:
    """The demo clinic (20 clients, months of check-ins with comments, goals, alerts with
    notes) and one more client with a contact e-mail and an ended episode."""
    ctx, _ = module_demo
    maya = auth.actor_for_email(ctx, "maya@riverside.example")
    _, episode = clients.create_client(
        ctx, actor=maya, display_name=EXTRA_NAME, contact_email=EXTRA_EMAIL
    )
    goals.agree_goals(ctx, actor=maya, episode_id=episode.id, goals=[EXTRA_GOAL])
    # Every questionnaire full_answers fills in (the plan of a new episode asks fewer at first).
    answers = full_answers(comment=EXTRA_COMMENT)
    link = checkins.create_checkin_link(
        ctx, actor=maya, episode_id=episode.id, instruments=tuple(answers)
    )
    checkins.record_check_in(ctx, link.token, answers)
    clients.end_episode(ctx, actor=maya, episode_id=episode.id, reason="completed")
    facts = _facts(ctx)
    assert {EXTRA_NAME, "Sarah", "maya@riverside.example"} <= facts.names
    assert {EXTRA_EMAIL, EXTRA_GOAL, EXTRA_COMMENT} <= facts.texts  # stored encrypted
    return Clinic(ctx, auth.actor_for_email(ctx, ADMIN), facts)


@pytest.mark.parametrize("format", exports.FORMATS)
def test_a_deidentified_export_holds_no_date_name_free_text_or_raw_id(
    clinic: Clinic, format: str
) -> None:
    files = exports.export_clinic(clinic.ctx, actor=clinic.admin, format=format, deidentified=True)
    found = sorted(_findings(files, clinic.facts))
    assert not found, f"{len(found)} leak(s):\n" + "\n".join(found[:40])


@pytest.mark.parametrize("format", exports.FORMATS)
def test_the_scan_finds_dates_names_texts_and_ids_in_a_full_export(
    clinic: Clinic, format: str
) -> None:
    """The scan above would see a leak: a full export has every kind of thing it looks for."""
    files = exports.export_clinic(clinic.ctx, actor=clinic.admin, format=format, deidentified=False)
    kinds = {line.split(" in ")[0] for line in _findings(files, clinic.facts)}
    # Every format, FHIR too: its Patients carry the clients' names in a full export.
    expected = {"raw id", "date", "free text", "name or e-mail"}
    assert expected <= kinds


def test_pseudonyms_join_the_tables_of_one_export(clinic: Clinic) -> None:
    files = exports.export_clinic(clinic.ctx, actor=clinic.admin, format="csv", deidentified=True)
    table = {
        name.removesuffix(".csv"): pd.read_csv(io.BytesIO(data))
        for name, data in files.items()
        if name.endswith(".csv")
    }
    episodes = table["episodes"]
    assert set(episodes["client_id"]) <= set(table["clients"]["client_id"])
    for name in ("sessions", "scores", "answers", "goals", "alerts"):
        assert set(table[name]["episode_id"]) <= set(episodes["episode_id"]), name
    assert set(table["goal_ratings"]["goal_id"]) <= set(table["goals"]["goal_id"])
    with transaction(clinic.ctx.session_factory) as session:
        from alliance.store.models import Episode

        therapists = set(session.scalars(select(Episode.therapist_id)))
    assert episodes["therapist_id"].nunique() == len(therapists)


def test_two_exports_use_unrelated_pseudonyms(clinic: Clinic) -> None:
    """A pseudonym means something only inside its own export: two exports cannot be joined
    (and no key kept on the server turns one back into an id)."""

    def client_ids() -> set[str]:
        files = exports.export_clinic(
            clinic.ctx, actor=clinic.admin, format="csv", deidentified=True
        )
        return set(pd.read_csv(io.BytesIO(files["clients.csv"]))["client_id"])

    first, second = client_ids(), client_ids()
    assert len(first) == len(second) == 21
    assert first.isdisjoint(second)
