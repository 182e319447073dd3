"""The registry of encrypted values: every place in the database that may hold field-encrypted
text (see :mod:`alliance.store.crypto`), each with the field name bound to it as associated data.

A table declares its encrypted columns with :func:`encrypted_text` (a whole column holds one
ciphertext) or :func:`encrypted_json` (a JSON object column whose top-level values may be
ciphertexts, e.g. the free-text answers among a check-in's numeric ones). The field name is
written once, there, and kept in the column's ``info``; the services read it back with
:func:`field_of` / :func:`json_field_of`, and whatever has to see every encrypted value (key
rotation, the tests that look for ciphertext in unregistered places) walks :func:`registry`.

The field names are part of every stored ciphertext: changing one makes the values already
stored under it undecryptable, so a name stays as it is even when its column moves.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.orm import MappedColumn, QueryableAttribute, mapped_column

#: Key under which a column's ``info`` carries its :class:`EncryptedText` / :class:`EncryptedJson`.
INFO_KEY = "alliance.encrypted"


@dataclass(frozen=True)
class EncryptedText:
    """A text column whose every non-null value is one ciphertext bound to ``field``."""

    field: str


@dataclass(frozen=True)
class EncryptedJson:
    """A JSON object column whose top-level values may be ciphertexts (others stay plain).

    The value under ``key`` is bound to ``template`` formatted with ``key`` and the row's other
    columns named in it, e.g. ``"responses.{instrument_id}.{key}"``.
    """

    template: str

    @property
    def row_columns(self) -> tuple[str, ...]:
        """The row's columns the template needs (besides ``key``)."""
        names = (name for _, name, _, _ in string.Formatter().parse(self.template) if name)
        return tuple(name for name in names if name != "key")

    def field(self, key: str, row: Mapping[str, Any]) -> str:
        return self.template.format(key=key, **{name: row[name] for name in self.row_columns})


@dataclass(frozen=True)
class Location:
    """One registered place: a column of a table and how its values are encrypted."""

    table: Table
    column: Column[Any]
    spec: EncryptedText | EncryptedJson

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"


def encrypted_text(field: str) -> MappedColumn[Any]:
    """A ``Text`` column of ciphertexts bound to ``field`` (nullable from the annotation)."""
    return mapped_column(Text, info={INFO_KEY: EncryptedText(field)})


def encrypted_json(template: str) -> MappedColumn[Any]:
    """A JSON object column (default ``{}``) whose top-level values may be ciphertexts."""
    return mapped_column(default=dict, info={INFO_KEY: EncryptedJson(template)})


def _spec(attribute: QueryableAttribute[Any]) -> EncryptedText | EncryptedJson:
    column = attribute.class_.__table__.c[attribute.key]
    spec = column.info.get(INFO_KEY)
    if not isinstance(spec, EncryptedText | EncryptedJson):
        raise LookupError(f"{column} is not a registered encrypted column")
    return spec


def field_of(attribute: QueryableAttribute[Any]) -> str:
    """The field name of an :func:`encrypted_text` column, e.g. ``field_of(Goal.text_enc)``."""
    spec = _spec(attribute)
    if not isinstance(spec, EncryptedText):
        raise LookupError(f"{attribute} holds encrypted JSON values: use json_field_of")
    return spec.field


def json_field_of(attribute: QueryableAttribute[Any], key: str, **row: Any) -> str:
    """The field name of the value under ``key`` of an :func:`encrypted_json` column, given the
    row's columns its template needs, e.g.
    ``json_field_of(Response.answers, "sf_comment", instrument_id="session_feedback")``."""
    spec = _spec(attribute)
    if not isinstance(spec, EncryptedJson):
        raise LookupError(f"{attribute} holds whole ciphertexts: use field_of")
    return spec.field(key, row)


def registry(metadata: MetaData) -> tuple[Location, ...]:
    """Every registered place of ``metadata``, in table and column order. The app's whole
    schema is :func:`alliance.store.models.encrypted_columns` (this module imports no table
    module: the tables import it)."""
    found: list[Location] = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            spec = column.info.get(INFO_KEY)
            if isinstance(spec, EncryptedText | EncryptedJson):
                found.append(Location(table, column, spec))
    return tuple(sorted(found, key=lambda location: location.name))


__all__ = [
    "INFO_KEY",
    "EncryptedJson",
    "EncryptedText",
    "Location",
    "encrypted_json",
    "encrypted_text",
    "field_of",
    "json_field_of",
    "registry",
]
