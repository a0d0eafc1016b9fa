"""xymongen: the report xymongen sends about its own run.

Handles: xymongen, bbgen (``xymongen --report``; Hobbit 4.2 ``bbgen --report``)

Sample body::

    status xymon,example,com.xymongen green Sun Nov 22 00:01:11 UTC 2026

    xymongen for Xymon version 4.3.30

    Statistics:
     Hosts                      :   412
     Pages                      :    38
     Status messages            :  1882
     - Red                      :     3 ( 0.16 %)
     - Red (non-propagating)    :     1 ( 0.05 %)
     ...
     - Blue                     :     6 ( 0.32 %)


    TIME SPENT
    Event                                           Start time          Duration
    Startup                                  1795312830.102331                 -
    ...
    TIME TOTAL                                                41.275000

Each line, leading blanks skipped: ``TIME TOTAL <seconds>`` (read as a C float, written
with two decimals), ``Hosts``, ``Status messages`` and the colour rows ``- Red`` ...
``- Blue`` (the non-propagating rows apart): the number after the line's first ``:`` and,
for colours, the percentage after the next ``(``. All three files are always written, with 0
for what the report lacks (a Hobbit 4.2 report has no colour rows). Percentages are
written as ``%05.2f``; xymongen's NaN percentages with no statuses pass through as " -nan".

Writes:
    (``.<test>`` inserted before ``.rrd`` when the column is not ``xymongen``, "/" in it
    as ",": xymongen.bbgen.rrd, xymon.bbgen.rrd, xymon2.bbgen.rrd)
    xymongen.rrd    runtime (GAUGE, seconds)
    xymon.rrd       hostcount statuscount (GAUGE)
    xymon2.rrd      redcount rednopropcount yellowcount yellownopropcount greencount
                    purplecount clearcount bluecount (GAUGE); redpct rednoproppct yellowpct
                    yellownoproppct greenpct purplepct clearpct bluepct (GAUGE 0..100)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import FLOAT, WS, atoi, printf_f, strtod, strtof
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers.selfstats import RUNTIME_SCHEMA, filename
from rrdd.schema import Schema, Update

COUNTS_SCHEMA = Schema.of("DS:hostcount:GAUGE:600:0:U", "DS:statuscount:GAUGE:600:0:U")
COLORS = ("red", "rednoprop", "yellow", "yellownoprop", "green", "purple", "clear", "blue")
COLORS_SCHEMA = Schema.of(
    *(f"DS:{c}count:GAUGE:600:0:U" for c in COLORS),
    *(f"DS:{c}pct:GAUGE:600:0:100" for c in COLORS),
)
# line prefix -> (index into hostcount, statuscount and the colour counts; has a
# percentage); the first prefix that matches wins, so the longer ones come first.
LINES = (
    ("Hosts", 0, False),
    ("Status messages", 1, False),
    ("- Red (non-propagating)", 3, True),
    ("- Red", 2, True),
    ("- Yellow (non-propagating)", 5, True),
    ("- Yellow", 4, True),
    ("- Green", 6, True),
    ("- Purple", 7, True),
    ("- Clear", 8, True),
    ("- Blue", 9, True),
)
_TIME = re.compile(f"TIME TOTAL[{WS}]*({FLOAT})")


@register(
    "xymongen",
    "bbgen",
    files=(
        "xymongen.rrd",
        "xymon.rrd",
        "xymon2.rrd",
        "xymongen.{test}.rrd",
        "xymon.{test}.rrd",
        "xymon2.{test}.rrd",
    ),
)
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    runtime = 0.0
    counts = [0] * 10
    pcts = [0.0] * 8
    for line in msg.body.split("\n"):
        text = line.lstrip(" \t")
        if text.startswith("TIME TOTAL"):
            m = _TIME.match(text)
            if m:
                runtime = strtof(m.group(1))
            continue
        for prefix, index, has_pct in LINES:
            if text.startswith(prefix):
                colon = line.find(":")
                if colon >= 0:
                    counts[index] = atoi(line[colon + 1 :])
                    paren = line.find("(", colon) if has_pct else -1
                    if paren >= 0:
                        pct = strtod(line, paren + 1)
                        pcts[index - 2] = 0.0 if pct is None else pct  # atof()
                break
    test = msg.testname
    yield Update(
        filename("xymongen", test, "xymongen"), RUNTIME_SCHEMA, (printf_f(runtime, "%.2f"),)
    )
    yield Update(filename("xymon", test, "xymongen"), COUNTS_SCHEMA, tuple(map(str, counts[:2])))
    values = (*map(str, counts[2:]), *(printf_f(p, "%05.2f") for p in pcts))
    yield Update(filename("xymon2", test, "xymongen"), COLORS_SCHEMA, values)
