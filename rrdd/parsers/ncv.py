"""ncv: any status or data message of ``NAME : value`` lines (NCV and SPLITNCV).

Handles: ncv (a column mapped with ``<column>=ncv`` in TEST2RRD)

Sample body (``NCV_myapp="conns:GAUGE,*:DERIVE"``)::

    status db01.myapp green Sun Nov 22 00:00:00 UTC 2026 all fine
    &green conns : 12
    requests = 1154
    <!-- ncv_skip --> build : 2026
    cache hit-ratio (%) : 92.5

Each line ``name : value`` or ``name = value`` (after an optional ``&colour``) gives one
DS. The value is the run of ``0-9 . + - e E`` after the separator (``100ms`` -> 100,
``12abc`` -> 12); a line whose value is not a number is skipped. Directives, all
case-sensitive: ``<!-- ncv_skip -->`` skips the rest of its line, ``<!-- ncv_skipstart -->``
... ``<!-- ncv_skipend -->`` skip lines (the text after skipend is read),
``<!-- ncv_ignore --> text </-->`` skips the text, ``<!-- ncv_end -->`` ends the message.

The DS type of a name comes from ``NCV_<column>`` (or ``SPLITNCV_<column>``), a list of
``name:TYPE`` with ``*`` for any other name; the default is DERIVE; NONE drops the value.
With ``SPLITNCV_<column>`` set (even empty) each name has a file of its own.

Writes:
    <column>.rrd          NCV: one DS per name, the name cut to [A-Za-z0-9] and 19
                          characters, its type from NCV_<column> (min and max U);
                          the DS come from the message
    <column>,<name>.rrd   SPLITNCV: DS lambda; other characters of the name become "_"
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers import register
from rrdd.schema import STEP, Schema, Update, commas, rrdname

BLANKS = re.compile(r"[ \t\n]*")
SEPARATOR = re.compile(r"[:=\n]")
COLOUR = re.compile(r"&[a-z]*[ \t]*")
NUMBER = re.compile(r"[ \t]*([+-]?[0-9.+\-eE]*)")
NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
# One accepted line as pairs() reads it, for messages without directives: blanks, an
# optional colour, the name up to the first ":" or "=", blanks, the value.
LINE = re.compile(r"^[ \t]*(&[a-z]*[ \t]*)?([^:=\n]*)[:=][ \t]*([+-]?[0-9.+\-eE]*)", re.M)
NCV_NAME_MAX = 19  # rrdtool's DS name limit
KNOWN_MAX = 4096  # names remembered per test and setting
SPLIT_NAME_MAX = 200


@register("ncv", files=("{test}.rrd", "{test},*.rrd"))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    test = msg.testname
    split = test in ctx.splitncv  # SPLITNCV wins, even when empty
    known = _known(test, ctx.splitncv[test] if split else ctx.ncv.get(test), split)
    track_max = test in ctx.trackmax
    defs: list[str] = []
    values: list[str] = []
    seen: dict[str, str] = {}
    problems = []
    for raw, value in pairs(msg.body):
        target = known[raw]
        if target is None:
            continue  # its type is NONE
        name = target.name
        if name in seen:
            # Two lines with one DS name: the first keeps it; the other has no DS to go to.
            problems.append(f"{raw!r} and {seen[name]!r} are both DS {name!r}; kept the first")
            continue
        seen[name] = raw
        if split:
            yield Update(target.file, target.schema, (value,), STEP, track_max, target.params)
        elif not name:
            raise ParseError(
                f"the name {raw!r} has no letters or digits, so no DS; nothing written"
            )
        else:
            defs.append(target.ds)
            values.append(value)
    if defs:
        yield Update(
            rrdname(f"{test}.rrd"), Schema(tuple(defs)), tuple(values), track_max=track_max
        )
    if problems:
        raise ParseError("; ".join(problems))


class Target(NamedTuple):
    """What a name of a report becomes: its DS name and either (NCV) its DS definition
    or (SPLITNCV) its file, the file's schema and the parts of the file's name."""

    name: str
    ds: str = ""
    file: str = ""
    schema: Schema = Schema(())
    params: tuple[str, ...] = ()


class Known(dict[str, Target | None]):
    """The names seen in one test's reports, each with its `Target` (None: type NONE),
    worked out on first sight: a host sends the same names every few minutes."""

    def __init__(self, test: str, spec: str | None, split: bool):
        super().__init__()
        self.test, self.split = test, split
        self.types = _types(spec)
        self.default = self.types.get("*", "DERIVE")

    def __missing__(self, raw: str) -> Target | None:
        if len(self) >= KNOWN_MAX:  # the names come from the network
            self.clear()
        name = _clean(raw, self.split)
        dstype = self.types.get(name, self.default)
        target: Target | None
        if dstype[:4].upper() == "NONE":
            target = None
        elif self.split:
            part = commas(name)
            schema = Schema.of(f"DS:lambda:{dstype}:600:U:U")
            target = Target(name, "", rrdname(f"{self.test},{part}.rrd"), schema, (self.test, part))
        else:
            target = Target(name, f"DS:{name}:{dstype}:600:U:U")
        self[raw] = target
        return target


@lru_cache(maxsize=256)  # one per test and its NCV_/SPLITNCV_ setting
def _known(test: str, spec: str | None, split: bool) -> Known:
    return Known(test, spec, split)


def pairs(body: str) -> Iterator[tuple[str, str]] | list[tuple[str, str]]:
    """(name, value) for each accepted line, in order, after the message's first line."""
    quick = _plain_pairs(body)
    return quick if quick is not None else _pairs(body)


def _plain_pairs(body: str) -> list[tuple[str, str]] | None:
    """pairs() in one regex pass, for the common message: no ``<!-- ncv_`` directive and
    no colour standing alone before its separator ("&green: x: 5"). None for any other."""
    start = body.find("\n") + 1
    if not start:
        return []
    if "<!-- ncv_" in body:
        return None
    out = []
    for colour, name, value in LINE.findall(body, start):
        if not name and colour:
            return None  # read on after the separator: the state machine's case
        if value and (value.isdecimal() or _is_number(value)):
            out.append((name, value))
    return out


def _pairs(body: str) -> Iterator[tuple[str, str]]:
    """pairs() line by line, directives included: xymond's state machine."""
    text = body
    end = len(text)
    pos = text.find("\n") + 1
    skipping = False
    while 0 < pos < end:
        pos = BLANKS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= end:
            return
        eol = text.find("\n", pos)
        eol = end if eol < 0 else eol
        if text.startswith("<!-- ncv_", pos):
            directive = pos + 9
            if text.startswith("skip -->", directive):
                pos = eol + 1
                continue
            if text.startswith("skipstart -->", directive):
                skipping = True
            elif text.startswith("skipend -->", directive):
                skipping = False
                pos = directive + 11
                continue
            elif text.startswith("ignore -->", directive):
                close = text.find("</-->", directive + 10, eol)
                if close < 0:
                    pos = eol + 1
                    continue
                pos = BLANKS.match(text, close + 5).end()  # type: ignore[union-attr]
            elif text.startswith("end -->", directive):
                return
            else:  # an unknown directive is skipped up to its ">"
                close = text.find(">", directive)
                pos = end if close < 0 else BLANKS.match(text, close + 1).end()  # type: ignore[union-attr]
        if skipping:
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl + 1
            continue
        sep = SEPARATOR.search(text, pos)
        if sep is None:
            return
        if sep.group() == "\n":
            pos = sep.end()
            continue
        name = text[pos : sep.start()]
        pos = sep.end()
        if name.startswith("&"):
            name = name[COLOUR.match(name).end() :]  # type: ignore[union-attr]
            if not name:
                continue  # "&green: x: 5": read on after the separator
        m = NUMBER.match(text, pos)
        assert m is not None
        if m.start(1) >= end:
            return  # the message ends right after the separator
        value = m.group(1)
        after = m.end(1)
        if after < end and text[after] == "\n":
            pos = after + 1
        else:
            nl = text.find("\n", after + 1)
            pos = end if nl < 0 else nl + 1
        if value and _is_number(value):
            yield name, value


def _is_number(text: str) -> bool:
    """What C's strtod() reads completely."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _clean(name: str, split: bool) -> str:
    """The DS (NCV) or file (SPLITNCV) name: letters and digits only, at most 19 for NCV;
    SPLITNCV turns each run of other characters into one "_" and drops a trailing one."""
    if name.isalnum() and name.isascii():
        return name if split else name[:NCV_NAME_MAX]
    if not split:
        return "".join(NOT_ALNUM.split(name))[:NCV_NAME_MAX]
    out = NOT_ALNUM.sub("_", name)[:SPLIT_NAME_MAX]
    return out[:-1] if out.endswith("_") else out


def _types(spec: str | None) -> dict[str, str]:
    """``name:TYPE,name:TYPE`` -> {name: TYPE}; the first entry of a name wins."""
    types: dict[str, str] = {}
    for entry in (spec or "").split(","):
        name, sep, dstype = entry.partition(":")
        if sep:
            types.setdefault(name, dstype)
    return types
