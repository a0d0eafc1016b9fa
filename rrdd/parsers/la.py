"""la: the cpu report -> load average, processes, users and clock offset.

Handles: la (the ``cpu`` column through ``cpu=la``)

Sample body (xymond_client, every Unix client)::

    status web01.cpu green Tue Jan  7 10:00:01 CET 2025 up: 12 days, 3 users, 187 procs, load=0.52
    &yellow System clock is 2 seconds off

Also read: Windows ``load=12%`` (a percentage), bb-xsnmp ``CPU Usage=  9%``, mainframe
``CPU Utilization  7%``, AS/400 ``108 users 45525 jobs(...), load=26%``, ciscocpu.pl
``<br>CPU 5 min average: 7``. A Unix load ``x.yy`` is stored as x.yy times 100.

A BBNT cpu report also carries ``Total Physical memory:``, ``Available Physical memory:``,
``Total PageFile size:`` and ``Available PageFile size:`` (bytes); once the handler has run
for 6 minutes they fill memory.real.rrd and memory.swap.rrd of hosts that never sent a
memory status.

Writes:
    la.rrd      la (GAUGE): load x 100, or load percent
    procs.rrd   la (GAUGE): processes
    users.rrd   la (GAUGE): users logged in
    clock.rrd   la (GAUGE): seconds the client clock is off
    memory.real.rrd, memory.swap.rrd   realmempct (GAUGE): from a BBNT cpu report
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import chain

from rrdd.channel import Message
from rrdd.cnum import INT64, atoi, leading_int, strtoll
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers import register
from rrdd.parsers.memory import SCHEMA as MEMORY_SCHEMA
from rrdd.schema import Schema, Update

# "la" is a misnomer for procs, users and clock, kept so existing RRD files stay valid.
SCHEMA = Schema.of("DS:la:GAUGE:600:U:U")
FILES = ("la.rrd", "procs.rrd", "users.rrd", "clock.rrd")  # load, processes, users, clock

MAINFRAME = re.compile(r".* CPU Utilization *([0-9]+)%", re.IGNORECASE)
AS400 = re.compile(r".* ([0-9]+) users ([0-9]+) jobs.* load=([0-9]+)%", re.IGNORECASE)
FRACTION = re.compile(r"\d+")
WINMEM = (
    "Total Physical memory:",
    "Available Physical memory:",
    "Total PageFile size:",
    "Available PageFile size:",
)
UPTIME = ("up: ", "Uptime:", "uptime:")  # where the first line's users and procs follow
MEMORY_GRACE = 360  # seconds: let a separate memory report register its host first


@register("la", files=FILES)
def parse(msg: Message, ctx: Context) -> Iterable[Update]:
    body = msg.body
    load = users = procs = None
    if "bb-xsnmp" in body:
        pos = body.find("CPU Usage=")
        load = atoi(body[pos + 10 :]) if pos >= 0 else None
    elif "z/VM" in body or "VSE/ESA" in body or "z/VSE" in body or "z/OS" in body:
        m = MAINFRAME.search(body)
        load = atoi(m.group(1)) if m else None
    else:
        eol = body.find("\n")
        load, users, procs = _first_line(body if eol < 0 else body[:eol])

    pos = body.find("System clock is ")
    clock = _int_at(body, pos + 16) if pos >= 0 else None

    if load is None and "<br>CPU 5 min average:" in body:
        rest = body[body.find("<br>CPU 5 min average:") :]
        load = atoi(rest[rest.find(":") + 1 :])

    updates = []
    for file, value in zip(FILES, (load, procs, users, clock), strict=True):
        if value is not None:
            updates.append(Update(file, SCHEMA, (str(value),)))
    if ctx.uptime("la") >= MEMORY_GRACE and msg.hostname not in ctx.memhosts:
        # Chained, not added to the list: a BBNT report whose memory lines are unreadable
        # raises ParseError, and the dispatcher keeps the updates that came before it.
        return chain(updates, _windows_memory(body))
    return updates


def _first_line(line: str) -> tuple[int | None, int | None, int | None]:
    """Load, users and procs from the first line of a cpu report."""
    users = procs = load = None
    for marker in UPTIME:
        pos = line.find(marker)
        if pos >= 0:
            break
    else:
        m = AS400.match(line)
        return (atoi(m.group(3)), atoi(m.group(1)), None) if m else (None, None, None)
    # xymond reads these with sscanf(", %d users"): only the number has to be there.
    comma = line.find(",", pos)
    if comma >= 0:
        users = _int_at(line, comma + 1)
        comma = line.find(",", comma + 1)
    if comma >= 0:
        procs = _int_at(line, comma + 1)
    pos = line.find("load=")
    if pos >= 0:
        load = _load(line[pos + 5 :])
    return load, users, procs


def _load(text: str) -> int:
    """``12%`` -> 12; ``1.5`` -> 150 (L x 100 from two fraction digits); ``3`` -> 3.

    xymond reads the fraction as an integer (``1.5`` -> 105) and cuts the message after
    two fraction digits; rrdd pads the fraction and reads on.
    """
    if "%" in text:
        return atoi(text)
    dot = text.find(".")
    if dot < 0:
        return atoi(text)
    m = FRACTION.match(text, dot + 1, dot + 3)
    fraction = int(m.group().ljust(2, "0")) if m else 0
    whole = atoi(text[:dot])  # the same number: atoi stops at the dot
    return whole * 100 - fraction if text.lstrip().startswith("-") else whole * 100 + fraction


def _int_at(text: str, pos: int) -> int | None:
    """What sscanf's %d reads at `pos` in `text` (wrapped to a C int), or None."""
    digits = leading_int(text, pos)
    return atoi(digits) if digits is not None else None


def _windows_memory(body: str) -> Iterator[Update]:
    """memory.real/swap from the four BBNT memory lines (bytes), as xymond computes them."""
    values = []
    for marker in WINMEM:
        pos = body.find(marker)
        if pos < 0:
            return
        value = strtoll(body[pos + len(marker) :])
        if value == INT64 - 1:  # strtoll's overflow value: xymond gives up too
            raise ParseError(f"the cpu report's {marker} value overflows")
        values.append(value)
    phystotal, physavail, pagetotal, pageavail = values
    if abs(phystotal) < 100 or abs(pagetotal) < 100:
        raise ParseError("the cpu report lists no total physical or pagefile memory")
    real = 100 - _cdiv(physavail, _cdiv(phystotal, 100))
    swap = 100 - _cdiv(pageavail, _cdiv(pagetotal, 100))
    yield Update("memory.real.rrd", MEMORY_SCHEMA, (str(real),), params=("memory", "real"))
    yield Update("memory.swap.rrd", MEMORY_SCHEMA, (str(swap),), params=("memory", "swap"))


def _cdiv(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q
