"""Loading instrument definitions: the bundled YAML files and a user directory.

This is the measures package's one small loader. Bundled instruments are read from the package
data (``alliance/measures/instruments/<id>.yaml``) with :mod:`importlib.resources`; user
instruments (e.g. a licensee's ORS/SRS or OQ-45 file) come from a directory the caller names
(the app and the CLI pass ``settings.instruments_dir``, i.e. ``ALLIANCE_INSTRUMENTS_DIR``;
this package never reads settings itself).

:class:`InstrumentRegistry` is the cached form a long-running process keeps: it parses the
user directory once and parses it again only when a file in it is added, removed or changed
(by modification time and size), so an edited instrument is picked up without a restart while a
check-in costs a few ``stat`` calls, not a YAML parse.

Rules:

* a bundled file is named ``<id>.yaml`` for the id it defines;
* a user file may have any name ending ``.yaml``/``.yml``; its id must not be a bundled id (a
  bundled, source-checked instrument is never silently replaced — give a local variant its
  own id, e.g. ``phq9_local``) and must be unique within the directory;
* a user file with ``translation_of: <id>`` is a clinic's validated translation of that
  instrument (:meth:`InstrumentRegistry.translation`): the same items and answer codes in
  another ``language``, shown to clients reading it and scored as the original; it is not
  listed by :meth:`InstrumentRegistry.all`, so no episode is ever measured "in" it;
* any problem is an :class:`InstrumentError` whose message is one line naming the file, the
  item and the field, e.g. ``phq9.yaml: items[3] (phq9_4).options[1].score: must be a number``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alliance.measures.instrument import Instrument

__all__ = [
    "InstrumentError",
    "InstrumentRegistry",
    "UnknownInstrumentError",
    "bundled_ids",
    "dump_instrument",
    "list_instruments",
    "load_instrument",
    "load_instrument_file",
    "parse_instrument",
]

_SUFFIXES = (".yaml", ".yml")


class InstrumentError(ValueError):
    """A bad or missing instrument definition; ``str()`` is one line naming file and field."""


class UnknownInstrumentError(InstrumentError):
    """No instrument with the requested id."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML would silently keep the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def parse_instrument(text: str, source: str) -> Instrument:
    """Parse and validate one YAML definition; ``source`` names it in error messages."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InstrumentError(f"{source}: {where}not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise InstrumentError(f"{source}: not valid YAML ({_one_line(str(exc))})") from None
    if not isinstance(data, dict):
        raise InstrumentError(f"{source}: the file must be a mapping of fields (id, title, …)")
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError(f"{source}: {_describe(exc, data)}") from None


def dump_instrument(instrument: Instrument, comment: str | None = None) -> str:
    """The instrument as the YAML text of an instrument file, ``comment`` (one or more lines)
    first as ``#`` lines; :func:`parse_instrument` reads it back to an equal instrument."""
    data = instrument.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    # exclude_defaults drops the language when it is "en"; say it anyway, files always do.
    data = {"id": data.pop("id"), "language": instrument.language, **data}
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=96)
    header = "".join(f"# {line}".rstrip() + "\n" for line in (comment or "").splitlines())
    text = header + body
    if parse_instrument(text, "dumped instrument") != instrument:
        raise InstrumentError(f"{instrument.id}: does not read back the same (a bug)")
    return text


def load_instrument_file(path: Path) -> Instrument:
    """Read and validate one instrument file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InstrumentError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InstrumentError(f"{Path(path).name}: not UTF-8 text") from None
    return parse_instrument(text, Path(path).name)


def bundled_ids() -> tuple[str, ...]:
    """Ids of the instruments shipped with Alliance."""
    return tuple(sorted(_bundled()))


def list_instruments(extra_dir: Path | None = None) -> list[Instrument]:
    """All instruments, bundled then those in ``extra_dir``, each group sorted by id."""
    return InstrumentRegistry(extra_dir).all()


def load_instrument(instrument_id: str, extra_dir: Path | None = None) -> Instrument:
    """The instrument with this id (bundled first, then the ``extra_dir`` directory)."""
    return InstrumentRegistry(extra_dir).get(instrument_id)


_Signature = tuple[tuple[str, int, int], ...]


class InstrumentRegistry:
    """Bundled instruments plus one user directory, parsed once and re-read when it changes.

    Safe to share between threads. An error in the user directory is raised on every call until
    the directory is fixed (it is not cached as "no instruments").
    """

    def __init__(self, extra_dir: Path | None = None) -> None:
        self.extra_dir = Path(extra_dir) if extra_dir is not None else None
        self._lock = threading.Lock()
        self._signature: _Signature | None = None
        self._user: dict[str, Instrument] = {}

    def get(self, instrument_id: str) -> Instrument:
        """The instrument with this id; :class:`UnknownInstrumentError` names the known ones."""
        bundled = _bundled()
        if instrument_id in bundled:
            return bundled[instrument_id]
        user = self._current_user()
        if instrument_id in user:
            return user[instrument_id]
        known = ", ".join(sorted(bundled) + sorted(user))
        raise UnknownInstrumentError(f"unknown instrument {instrument_id!r} (known: {known})")

    def all(self) -> list[Instrument]:
        """Bundled instruments then user ones, each group sorted by id; translations (files
        with ``translation_of``) are not instruments of their own and are left out."""
        bundled = _bundled()
        user = self._current_user()
        return [bundled[k] for k in sorted(bundled)] + [
            user[k] for k in sorted(user) if user[k].translation_of is None
        ]

    def translation(self, instrument_id: str, language: str) -> Instrument | None:
        """The installed validated translation of ``instrument_id`` into ``language`` (its
        primary subtag: "es" finds an "es-MX" file), or None. Never made up: only a file the
        clinic added with ``translation_of: <instrument_id>``."""
        wanted = language.split("-")[0].lower()
        found = [
            i
            for i in self._current_user().values()
            if i.translation_of == instrument_id and i.language.split("-")[0].lower() == wanted
        ]
        return min(found, key=lambda i: i.id) if found else None

    def _current_user(self) -> dict[str, Instrument]:
        folder = self.extra_dir
        if folder is None:
            return {}
        signature = _folder_signature(folder)
        with self._lock:
            if signature == self._signature:
                return self._user
        user = _user_instruments(folder)  # parsed outside the lock; the last parse wins
        with self._lock:
            self._signature, self._user = signature, user
        return user


def _folder_signature(folder: Path) -> _Signature:
    """What changes when a user file is added, removed or rewritten."""
    if not folder.is_dir():
        raise InstrumentError(f"{folder}: instruments directory does not exist")
    entries = []
    for path in _instrument_paths(folder):
        info = path.stat()
        entries.append((path.name, info.st_mtime_ns, info.st_size))
    return tuple(entries)


def _instrument_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())


@functools.lru_cache(maxsize=1)
def _bundled() -> dict[str, Instrument]:
    # Package data never changes while the process runs, so parse it once.
    found: dict[str, Instrument] = {}
    folder = resources.files("alliance.measures") / "instruments"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(_SUFFIXES):
            continue
        instrument = parse_instrument(entry.read_text(encoding="utf-8"), entry.name)
        stem = entry.name.rsplit(".", 1)[0]
        if instrument.id != stem:
            raise InstrumentError(f"{entry.name}: id {instrument.id!r} must match the file name")
        found[instrument.id] = instrument
    return found


def _user_instruments(folder: Path) -> dict[str, Instrument]:
    if not folder.is_dir():
        raise InstrumentError(f"{folder}: instruments directory does not exist")
    bundled = _bundled()
    found: dict[str, tuple[Instrument, str]] = {}
    for path in _instrument_paths(folder):
        instrument = load_instrument_file(path)
        if instrument.id in bundled:
            raise InstrumentError(
                f"{path.name}: id {instrument.id!r} is a bundled instrument; "
                "give your version its own id"
            )
        if instrument.id in found:
            raise InstrumentError(
                f"{path.name}: id {instrument.id!r} is also defined in {found[instrument.id][1]}"
            )
        found[instrument.id] = (instrument, path.name)
    for instrument, name in found.values():
        if instrument.translation_of is None:
            continue
        original = (
            bundled.get(instrument.translation_of)
            or found.get(instrument.translation_of, (None, ""))[0]
        )
        if original is None or original.translation_of is not None:
            raise InstrumentError(
                f"{name}: translation_of {instrument.translation_of!r} is no installed instrument"
            )
        problem = translation_problem(original, instrument)
        if problem:
            raise InstrumentError(f"{name}: {problem}")
    return {k: v[0] for k, v in found.items()}


def translation_problem(original: Instrument, translation: Instrument) -> str | None:
    """Why ``translation`` cannot stand in for ``original`` on a client's form, or None.

    Its answers are stored and scored as the original's, so it must ask the same items
    (linkIds, in order, of the same type) with the same answer codes; only the words differ.
    """
    if translation.language.split("-")[0] == original.language.split("-")[0]:
        return f"language {translation.language!r} is the original's own language"
    ours = [(i.link_id, i.type) for i in translation.items]
    theirs = [(i.link_id, i.type) for i in original.items]
    if ours != theirs:
        return (
            f"items must be those of {original.id} (same linkIds, order and types): "
            f"{', '.join(i for i, _ in theirs)}"
        )
    for mine, source in zip(translation.items, original.items, strict=True):
        if [o.code for o in mine.options] != [o.code for o in source.options]:
            codes = ", ".join(o.code for o in source.options)
            return f"item {mine.link_id}: answer codes must be those of {original.id} ({codes})"
    return None


# -- one-line error messages -------------------------------------------------------------

_FIELD_PREFIX = re.compile(r"^[A-Za-z_]+(\[\d+\])?(\.[A-Za-z_]+(\[\d+\])?)*: ")
_NAMED_LISTS = {
    "items": ("linkId", "link_id"),
    "subscales": ("name",),
    "bands": ("label",),
    "risk_items": ("linkId", "link_id"),
}


def _describe(exc: ValidationError, data: Mapping[str, Any]) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = _format_loc(first["loc"], data)
    message = _message(first)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    if where and _FIELD_PREFIX.match(message):
        # A model-level check names the field inside the element: items[3] (x).options: …
        line = f"{where}.{message}"
    elif where:
        line = f"{where}: {message}"
    else:
        line = message
    return _one_line(line + (more if len(errors) > 1 else ""))


def _format_loc(loc: Sequence[int | str], data: Any) -> str:
    parts: list[str] = []
    node: Any = data
    for index, key in enumerate(loc):
        if isinstance(key, int):
            label = ""
            parent = loc[index - 1] if index else None
            element = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(parent, str) and parent in _NAMED_LISTS and isinstance(element, dict):
                for field in _NAMED_LISTS[parent]:
                    if isinstance(element.get(field), str | int):
                        label = f" ({element[field]})"
                        break
            parts.append(f"[{key}]{label}")
            node = element
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return "must be a number"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("string_type",):
        return "must be text"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"has characters that are not allowed (pattern {ctx.get('pattern', '')})"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping of fields"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    msg = str(error.get("msg", "invalid"))
    return msg[:1].lower() + msg[1:]


def _one_line(text: str) -> str:
    return " ".join(text.split())
