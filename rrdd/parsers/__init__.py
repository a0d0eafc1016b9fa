"""The parser registry: handler ids (the right side of TEST2RRD) -> parse functions.

A parser module registers itself with `@register("id", ..., files=(...))`; every module
of this package whose name does not start with "_" is a built-in, and `load_builtins()`
imports them all (an import error stops start-up: built-ins are shipped and tested).
`files` names the RRD files the handler writes for a test, with ``{test}`` for the test
name and ``*`` for any text; droptest and renametest use it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.schema import Update, rrdname

Parser = Callable[[Message, Context], Iterable[Update]]

BUILTINS = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name[0] != "_"))


@dataclass(frozen=True, slots=True)
class Handler:
    ids: tuple[str, ...]
    parse: Parser
    module: str
    files: tuple[str, ...]


REGISTRY: dict[str, Handler] = {}


def register(*ids: str, files: tuple[str, ...]) -> Callable[[Parser], Parser]:
    """Register a parse function under one or more handler ids (case-sensitive)."""

    def deco(fn: Parser) -> Parser:
        handler = Handler(ids, fn, fn.__module__, files)
        for i in ids:
            if i in REGISTRY:
                raise ValueError(f"handler id {i!r} registered twice")
            REGISTRY[i] = handler
        return fn

    return deco


@functools.cache
def load_builtins() -> dict[str, Handler]:
    for name in BUILTINS:
        importlib.import_module(f"rrdd.parsers.{name}")
    return REGISTRY


def matching_files(
    handler: Handler, test: str, names: list[str], new_test: str | None = None
) -> list[tuple[str, str]]:
    """The files among `names` that `handler` writes for `test`, each paired with its
    name for `new_test` (the same name when the pattern does not contain the test name).
    """
    found: dict[str, str] = {}
    for pattern in handler.files:
        parts = re.split(r"(\{test\}|\*)", pattern)
        wildcards = {"{test}": re.escape(rrdname(test)), "*": "(.*)"}
        regex = re.compile("".join(wildcards.get(p, re.escape(p)) for p in parts))
        for name in names:
            m = regex.fullmatch(name)
            if m is None or name in found:
                continue
            found[name] = name if new_test is None else _fill(parts, rrdname(new_test), m.groups())
    return list(found.items())


def _fill(parts: list[str], test: str, wild: tuple[str, ...]) -> str:
    rest = iter(wild)
    return "".join(test if p == "{test}" else next(rest) if p == "*" else p for p in parts)
