"""memory: memory and swap use in percent.

Handles: memory

Sample body (xymond_client, every Unix client and BBWin)::

    status web01.memory green Tue Jan  7 10:00:01 CET 2025 - Memory OK
       Memory                  Used       Total  Percentage
    &green Real/Physical        5871M       7961M         73%
    &green Actual/Virtual       2209M       7961M         27%
    &green Swap/Page               0M       2047M          0%

The percentage is the number before the first ``%`` on the line of the first
``Physical`` (else ``Real``), ``Swap`` (else ``Page``) and ``Actual`` (else ``Virtual``).
Also read: z/OS ``CSA``/``ECSA``/``SQA``/``ESQA`` utilisation, z/VSE VSIZE, bb-xsnmp.pl
router memory (Processor, I/O, Fast) and NetWare cache buffers.

Writes:
    memory.real.rrd, memory.swap.rrd, memory.actual.rrd          realmempct (GAUGE)
    memory.processor.rrd, memory.io.rrd, memory.fast.rrd        realmempct (GAUGE)
    memory.CSA.rrd, memory.ECSA.rrd, memory.SQA.rrd, memory.ESQA.rrd, memory.vsize.rrd
    memory.tcb.rrd, memory.dcb.rrd, memory.ltch.rrd              realmempct (GAUGE)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import atoi
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import STEP, Schema, Update

SCHEMA = Schema.of("DS:realmempct:GAUGE:600:0:U")

ZOS_AREAS = ("CSA", "ECSA", "SQA", "ESQA")
ZOS_UTIL = re.compile(r"\s*[+-]?\d+\s+[+-]?\d+\s+[+-]?\d+\s+([+-]?\d+)")
VSIZE = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
NETWARE = (
    ("Total Cache Buffers", "tcb"),
    ("Dirty Cache Buffers", "dcb"),
    ("Long Term Cache Hit Percentage", "ltch"),
)


@register("memory", files=("memory.*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    # A host with a memory report of its own never takes memory from its cpu report.
    ctx.memhosts.add(msg.hostname)
    body = msg.body
    if "z/OS Memory Map" in body:
        yield from _zos(body)
    elif "z/VSE VSIZE Utilization" in body:
        pos = body.find("Utilization ")
        m = VSIZE.match(body, pos + 12) if pos >= 0 else None
        value = float(m.group(1)) if m else math.nan
        yield _update("vsize", int(value) if math.isfinite(value) and abs(value) < 2**31 else None)
    elif "bb-xsnmp.pl" in body:
        yield from _router(body)
    elif "Total Cache Buffers" in body:
        for marker, name in NETWARE:
            pos = body.find(marker)
            colon = body.find(":", pos) if pos >= 0 else -1
            if colon >= 0:
                yield _update(name, atoi(body[colon + 1 :]))
    else:
        phys = _find_either(body, "Physical", "Real")
        if phys < 0:
            return
        swap = _find_either(body, "Swap", "Page")
        actual = _find_either(body, "Actual", "Virtual")
        yield _update("real", _percent(body, phys))
        # Without a swap line xymond writes -1, which the DS minimum 0 stores as unknown.
        yield _update("swap", _percent(body, swap) if swap >= 0 else -1)
        if actual >= 0:
            yield _update("actual", _percent(body, actual))


NAMES = ("real", "swap", "actual", "processor", "io", "fast", "vsize", *dict(NETWARE).values())
# name -> its file and the file name's parts, made once rather than for every update
FILES = {name: (f"memory.{name}.rrd", ("memory", name)) for name in NAMES + ZOS_AREAS}


def _update(name: str, value: int | None) -> Update:
    value_text = "U" if value is None else str(value)
    rrd, params = FILES[name]
    return Update(rrd, SCHEMA, (value_text,), STEP, False, params)  # keywords cost more


def _find_either(body: str, marker: str, fallback: str) -> int:
    """Where the first `marker` is, else the first `fallback`; -1 if neither is there."""
    pos = body.find(marker)
    return pos if pos >= 0 else body.find(fallback)


def _percent(body: str, pos: int) -> int:
    """The digits and dots before the first '%' of the line from `pos` on, read as an
    integer (12.5% -> 12); else 0.

    Like xymond's get_mem_percent(), the walk back never reaches the character at `pos`.
    """
    percent = body.find("%", pos)
    if percent < 0:
        return 0
    before = body[pos:percent]
    if "\n" in before:  # the first '%' is on a later line
        return 0
    start = max(len(before.rstrip("0123456789.")), 1)
    return atoi(before[start:])  # atoi stops at a dot anyway


def _zos(body: str) -> Iterator[Update]:
    for area in ZOS_AREAS:
        pos = body.find(area + " ")
        m = ZOS_UTIL.match(body, pos + len(area) + 1) if pos >= 0 else None
        yield _update(area, atoi(m.group(1)) if m else None)


def _router(body: str) -> Iterator[Update]:
    """bb-xsnmp.pl (Cisco): written only when there is a Processor line; values 0..100."""
    if "Processor" not in body:
        return
    for marker, name in (("Processor", "processor"), ("I/O", "io"), ("Fast", "fast")):
        pos = body.find(marker)
        value = _percent(body, pos) if pos >= 0 else -1
        if 0 <= value <= 100:
            yield _update(name, value)
