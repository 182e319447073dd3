"""The one view convention: what a service returns is a frozen dataclass whose sequences are
tuples, so nothing a page or a route does can change it (and ORM rows or pydantic models of
the services never stand in for a view)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

import alliance.services
from alliance.services import views
from alliance.services.context import ServiceContext

# What a field of a view may not be: a container the holder could change in place.
MUTABLE_SEQUENCES = (list, set, bytearray)


def _service_modules() -> list[types.ModuleType]:
    return [
        importlib.import_module(f"{alliance.services.__name__}.{info.name}")
        for info in pkgutil.iter_modules(alliance.services.__path__)
    ]


def _types_in(annotation: Any) -> Iterator[Any]:
    """Every class an annotation names (``tuple[X, ...] | None`` gives tuple, X and None)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return
    if origin is typing.Annotated:
        yield from _types_in(typing.get_args(annotation)[0])
        return
    if origin is not None:
        if isinstance(origin, type):
            yield origin
        for arg in typing.get_args(annotation):
            yield from _types_in(arg)
        return
    if isinstance(annotation, type):
        yield annotation


def _from_services(cls: type) -> bool:
    return cls.__module__.startswith(f"{alliance.services.__name__}.")


def use_cases() -> list[tuple[str, Callable[..., Any]]]:
    """The public service functions: those called as ``fn(ctx, ...)``."""
    found = []
    for module in _service_modules():
        for name, func in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(func):
                continue
            if func.__module__ != module.__name__:
                continue
            plain = inspect.unwrap(func)
            params = list(inspect.signature(plain).parameters)
            if params and typing.get_type_hints(plain).get(params[0]) is ServiceContext:
                found.append((f"{module.__name__}.{name}", plain))
    return found


def convention_problems(cls: type, *, top: bool = True) -> list[str]:
    """Why ``cls`` is not a view by the convention (nothing when it is).

    A view is a frozen dataclass; its fields hold no list or set; a field that is itself a
    class of the services must be a view too, or a frozen value such as the clinic's
    settings (a frozen pydantic model). ``top``: ``cls`` is what a service returns, which
    must be a dataclass.
    """
    name = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        if top:
            return [f"{name} is a pydantic model, not a frozen dataclass view"]
        return [] if cls.model_config.get("frozen") else [f"{name} is a mutable pydantic model"]
    if not dataclasses.is_dataclass(cls):
        return [f"{name} is not a dataclass"]
    problems = []
    if not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        problems.append(f"{name} is not frozen")
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        for inner in _types_in(hints[field.name]):
            if inner in MUTABLE_SEQUENCES:
                problems.append(f"{name}.{field.name} holds a {inner.__name__} (use a tuple)")
            elif inner is not cls and isinstance(inner, type) and _from_services(inner):
                problems.extend(convention_problems(inner, top=False))
    return problems


def test_every_view_in_the_views_module_is_a_frozen_dataclass_of_tuples() -> None:
    classes = [
        obj
        for obj in vars(views).values()
        if isinstance(obj, type) and obj.__module__ == views.__name__
    ]
    assert len(classes) >= 20
    problems = [p for cls in classes for p in convention_problems(cls)]
    assert problems == []


def test_every_use_case_returns_views_by_the_convention() -> None:
    cases = use_cases()
    names = {name for name, _ in cases}
    assert {
        "alliance.services.matching.matching_queue",
        "alliance.services.transcripts.session_transcripts",
        "alliance.services.checkins.record_check_in",
    } <= names
    problems = sorted(
        {
            f"{name}: {problem}"
            for name, func in cases
            for returned in _types_in(typing.get_type_hints(func).get("return"))
            if _from_services(returned)
            for problem in convention_problems(returned)
        }
    )
    assert problems == []


def test_the_convention_check_notices_a_list_a_mutable_view_and_a_pydantic_view() -> None:
    @dataclasses.dataclass(frozen=True)
    class Listing:
        items: list[int]

    @dataclasses.dataclass
    class Loose:
        n: int

    class Model(BaseModel):
        n: int

    for cls in (Listing, Loose, Model):
        cls.__module__ = "alliance.services.example"
    assert convention_problems(Listing) == [
        f"alliance.services.example.{Listing.__qualname__}.items holds a list (use a tuple)"
    ]
    assert convention_problems(Loose) == [
        f"alliance.services.example.{Loose.__qualname__} is not frozen"
    ]
    assert convention_problems(Model) == [
        f"alliance.services.example.{Model.__qualname__} is a pydantic model, not a frozen "
        "dataclass view"
    ]
