"""dbcheck: Oracle database checks from hobbit-perl-client's dbcheck.pl.

Handles: HitCache, Session, RollBack, InvObj, MemReq (and ``dbcheck_tablespace`` for
the disk parser)

Sample body (``RollBack``)::

    status orasrv01,example,com.RollBack green Sun Nov 22 02:01:11 UTC 2026 Rollback OK
    Rollback Checking
    &green ROLLBACK percentage for RBS01 is 12.50
    &green ROLLBACK percentage for RBS02 is 3.25
    dbcheck.pl version 1.15

A handler writes nothing unless the body contains ``dbcheck.pl``. HitCache, Session and
MemReq read each value from the first line holding its key (a substring match), after
the first ``:`` (else ``=``); a missing key reads as 0, as in xymond. MemReq looks only
inside the first ``<!--`` ... ``-->`` block and writes nothing without one.
RollBack reads every ``ROLLBACK percentage for <name> is <pct>`` after the line holding
``Rollback Checking`` (a percentage goes through a C float, as in xymond); InvObj counts
the lines after ``Invalid Object Checking`` that start with ``red``, ``yellow`` or
``green`` (after an optional ``&``). In both, a last line without a newline is not read,
as in xymond.

``TblSpace`` reports (through the disk parser, which calls `dbcheck_tablespace` when the
body contains ``dbcheck.pl``) are df-like rows after the ``TableSpace/DBSpace`` header,
up to the line before one that starts with ``dbcheck.pl``: name, size, used (an
``M``/``G``/``T`` suffix scales it to KB), free, percent.

Writes:
    <test>.rrd (HitCache)   PinSQLArea PinTblProc PinBody PinTrigger HitSQLArea HitTblProc
                            HitBody HitTrigger BlBuffHit RowCache (GAUGE 0..100)
    <test>.rrd (Session)    MaxSession CurrSession (GAUGE), SessUsedPct (GAUGE 0..100),
                            MaxProcs CurrProcs (GAUGE), ProcsUsedPct (GAUGE 0..100)
    <test>,<name>.rrd (RollBack)   pct (GAUGE 0..100, heartbeat 28800)
    <test>.rrd (InvObj)     red yellow green (GAUGE, heartbeat 28800)
    <test>.rrd (MemReq)     ResFree ResAvgFree ResUsed ResAvgUsed (GAUGE), ReqFail (DERIVE),
                            FailSize (GAUGE)
    <test>,<tablespace>.rrd (dbcheck_tablespace)   pct (GAUGE, no maximum), used (GAUGE, KB)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import float32, printf_f
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._fdlib import (
    comment_block,
    disk_update,
    get_double,
    get_long,
    percent,
    tokens,
    used_kb,
)
from rrdd.schema import Schema, Update, commas, rrdname

MARKER = "dbcheck.pl"

HITCACHE_KEYS = (
    "PinSQLArea", "PinTblProc", "PinBody", "PinTrigger", "HitSQLArea", "HitTblProc", "HitBody",
    "HitTrigger", "BlBuffHit", "RowCache",
)  # fmt: skip
HITCACHE = Schema.of(*(f"DS:{k}:GAUGE:600:0:100" for k in HITCACHE_KEYS))
SESSION = Schema.of(
    "DS:MaxSession:GAUGE:600:0:U",
    "DS:CurrSession:GAUGE:600:0:U",
    "DS:SessUsedPct:GAUGE:600:0:100",
    "DS:MaxProcs:GAUGE:600:0:U",
    "DS:CurrProcs:GAUGE:600:0:U",
    "DS:ProcsUsedPct:GAUGE:600:0:100",
)
# dbcheck.pl may run these two checks rarely, hence xymond's 8-hour heartbeat.
ROLLBACK = Schema.of("DS:pct:GAUGE:28800:0:100")
INVOBJ = Schema.of(
    "DS:red:GAUGE:28800:0:U", "DS:yellow:GAUGE:28800:0:U", "DS:green:GAUGE:28800:0:U"
)
MEMREQ = Schema.of(
    "DS:ResFree:GAUGE:600:0:U",
    "DS:ResAvgFree:GAUGE:600:0:U",
    "DS:ResUsed:GAUGE:600:0:U",
    "DS:ResAvgUsed:GAUGE:600:0:U",
    "DS:ReqFail:DERIVE:600:0:U",
    "DS:FailSize:GAUGE:600:0:U",
)
TABLESPACE = Schema.of("DS:pct:GAUGE:600:0:U", "DS:used:GAUGE:600:0:U")

_WS = r"[ \t\v\f\r]*"
# sscanf("ROLLBACK percentage for %s is %f"): blanks in the format match any run of blanks
# (or none); %s takes every non-blank, without giving any back.
ROLLBACK_LINE = re.compile(
    rf"ROLLBACK{_WS}percentage{_WS}for{_WS}([^ \t\v\f\r]++){_WS}is{_WS}"
    r"([+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf(?:inity)?|nan)))"
)


@register("HitCache", files=("{test}.rrd",))
def parse_hitcache(msg: Message, ctx: Context) -> Iterator[Update]:
    if MARKER in msg.body:
        values = tuple(printf_f(get_double(msg.body, k), "%05.2f") for k in HITCACHE_KEYS)
        yield Update(rrdname(f"{msg.testname}.rrd"), HITCACHE, values)


@register("Session", files=("{test}.rrd",))
def parse_session(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    if MARKER in body:
        values = (
            get_long(body, "MaxSession"),
            get_long(body, "CurrSession"),
            printf_f(get_double(body, "SessUsedPct"), "%05.2f"),
            get_long(body, "MaxProcs"),
            get_long(body, "CurrProcs"),
            printf_f(get_double(body, "ProcsUsedPct"), "%05.2f"),
        )
        yield Update(rrdname(f"{msg.testname}.rrd"), SESSION, values)


@register("RollBack", files=("{test},*.rrd",))
def parse_rollback(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    pos = body.find("Rollback Checking") if MARKER in body else -1
    pos = body.find("\n", pos) if pos >= 0 else -1
    while pos >= 0:
        start = body.find("ROLLBACK", pos + 1)
        pos = body.find("\n", start) if start >= 0 else -1
        m = ROLLBACK_LINE.match(body, start, pos) if pos >= 0 else None
        if m:
            name = commas(m.group(1))
            pct = printf_f(float32(float(m.group(2))), "%05.2f")
            yield Update(rrdname(f"{msg.testname},{name}.rrd"), ROLLBACK, (pct,))


@register("InvObj", files=("{test}.rrd",))
def parse_invobj(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    if MARKER not in body:
        return
    counts = {"red": 0, "yellow": 0, "green": 0}
    pos = body.find("Invalid Object Checking")
    pos = body.find("\n", pos) if pos >= 0 else -1
    if pos >= 0:
        # [:-1]: xymond only counts lines that end in a newline
        for line in body[pos + 1 :].split("\n")[:-1]:
            line = line.removeprefix("&")
            for color in counts:
                if line.startswith(color):
                    counts[color] += 1
    values = (str(counts["red"]), str(counts["yellow"]), str(counts["green"]))
    yield Update(rrdname(f"{msg.testname}.rrd"), INVOBJ, values)


@register("MemReq", files=("{test}.rrd",))
def parse_memreq(msg: Message, ctx: Context) -> Iterator[Update]:
    block = comment_block(msg.body) if MARKER in msg.body else None
    if block is not None:
        values = (
            get_long(block, "ResFree"),
            printf_f(get_double(block, "ResAvgFree"), "%f"),
            get_long(block, "ResUsed"),
            printf_f(get_double(block, "ResAvgUsed"), "%f"),
            get_long(block, "ReqFail"),
            get_long(block, "FailSize"),
        )
        yield Update(rrdname(f"{msg.testname}.rrd"), MEMREQ, values)


def dbcheck_tablespace(msg: Message, ctx: Context) -> Iterator[Update]:
    """A TblSpace report from dbcheck.pl (xymond's do_dbcheck_tablespace); the disk parser
    calls it for a disk-style test whose body contains "dbcheck.pl" (and not "netapp.pl")."""
    body = msg.body
    pos = body.find("\n")
    pos = body.find("TableSpace/DBSpace", pos + 1) if pos >= 0 else -1
    pos = body.find("\n", pos) if pos >= 0 else -1
    if pos < 0:
        return
    lines = body[pos + 1 :].split("\n")
    for i, line in enumerate(lines):
        if i + 1 == len(lines):
            # xymond crashes on reaching the end; rrdd reads a last row that has text.
            if not line.strip(" "):
                break
        elif lines[i + 1].startswith(MARKER):
            break
        if line.startswith("&") or " red " in line or " yellow " in line:
            continue
        cols = [m.group() for m in tokens(line)] + ["", "", "", "", ""]
        used = used_kb(cols[2])
        update = disk_update(ctx, TABLESPACE, msg.testname, "/" + cols[0], percent(cols[4]), used)
        if update is not None:
            yield update
