"""selfstats: the reports xymond, xymonnet and xymonproxy send about themselves.

Handles: xymond, hobbitd (xymond's statistics status, column ``xymond``); xymonnet, bbtest
(``xymonnet --report``); xymonproxy, bbproxy (``xymonproxy --report=...``). xymongen's
report has a module of its own.

Sample body (xymond)::

    status xymon,example,com.xymond green
    Statistics for Xymon daemon
    Version: 4.3.30
    Up since 07-Jan-2025 09:12:44 (3 days, 01:47:17)

    Incoming messages      :   15630540
    - status               :   11838152
    - combo                :     502411
    ...
    status channel messages:   11838152 (5 readers)
    stachg channel messages:      30011 (2 readers)

xymond: for each DS, the first line starting with its label (``Incoming messages``,
``- status`` ... ``enadis channel messages``), the number after the line's ``:`` read as
strtoul; a missing label is U, and nothing is written without any. Hobbit 4.2 spells the
board/log rows ``- hobbitdboard``/``- hobbitdlog`` and no xymond has a ``- xymondlist`` row,
so those DS stay U, as in xymond_rrd.
xymonnet: the first ``TIME TOTAL <seconds>`` (the end of the ``--timing`` table that
``--report`` turns on); xymonproxy: the first ``Average queue time : <seconds>``. Without
it nothing is written. Seconds are read as a C float and written with two decimals.

Writes:
    (``.<test>`` inserted before ``.rrd`` when the column is not the program's own name,
    "/" in it as ",": xymond.hobbitd.rrd, xymonnet.bbtest.rrd, xymonproxy.bbproxy.rrd)
    xymond.rrd      inmessages statusmessages combomessages pagemessages summarymessages
                    datamessages notesmessages enablemessages disablemessages ackmessages
                    configmessages querymessages boardmessages listmessages logmessages
                    dropmessages renamemessages statuschmsgs stachgchmsgs pagechmsgs
                    datachmsgs noteschmsgs enadischmsgs (DERIVE)
    xymonnet.rrd    runtime (GAUGE, seconds)
    xymonproxy.rrd  runtime (GAUGE, seconds: the average queue time)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import FLOAT, WS, printf_f, strtof, strtoul
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

# xymond's statistics rows: DS name, the start of its line
XYMOND_ROWS = (
    ("inmessages", "Incoming messages"), ("statusmessages", "- status"),
    ("combomessages", "- combo"), ("pagemessages", "- page"),
    ("summarymessages", "- summary"), ("datamessages", "- data"),
    ("notesmessages", "- notes"), ("enablemessages", "- enable"),
    ("disablemessages", "- disable"), ("ackmessages", "- ack"),
    ("configmessages", "- config"), ("querymessages", "- query"),
    ("boardmessages", "- xymondboard"), ("listmessages", "- xymondlist"),
    ("logmessages", "- xymondlog"), ("dropmessages", "- drop"),
    ("renamemessages", "- rename"), ("statuschmsgs", "status channel messages"),
    ("stachgchmsgs", "stachg channel messages"), ("pagechmsgs", "page   channel messages"),
    ("datachmsgs", "data   channel messages"), ("noteschmsgs", "notes  channel messages"),
    ("enadischmsgs", "enadis channel messages"),
)  # fmt: skip
XYMOND_SCHEMA = Schema.of(*(f"DS:{name}:DERIVE:600:0:U" for name, _ in XYMOND_ROWS))
XYMOND_MARKERS = tuple("\n" + label for _, label in XYMOND_ROWS)
_UP_TO_COLON = re.compile(r"[^:\r\n]*:")

RUNTIME_SCHEMA = Schema.of("DS:runtime:GAUGE:600:0:U")
_NET_TIME = re.compile(f"TIME TOTAL[{WS}]*({FLOAT})")
_PROXY_TIME = re.compile(f"Average queue time[{WS}]*:[{WS}]*({FLOAT})")


def filename(base: str, test: str, own: str) -> str:
    """``<base>.rrd`` for the program's own column, else ``<base>.<test>.rrd`` (setupfn2)."""
    return f"{base}.rrd" if test == own else rrdname(f"{base}.{commas(test)}.rrd")


@register("xymond", "hobbitd", files=("xymond.rrd", "xymond.{test}.rrd"))
def parse_xymond(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    values = []
    for marker in XYMOND_MARKERS:
        pos = body.find(marker)
        m = _UP_TO_COLON.match(body, pos + 1) if pos >= 0 else None
        values.append(str(strtoul(body, m.end())) if m else "U")
    if any(v != "U" for v in values):
        yield Update(filename("xymond", msg.testname, "xymond"), XYMOND_SCHEMA, tuple(values))


@register("xymonnet", "bbtest", files=("xymonnet.rrd", "xymonnet.{test}.rrd"))
def parse_xymonnet(msg: Message, ctx: Context) -> Iterator[Update]:
    yield from _runtime(msg, "TIME TOTAL", _NET_TIME, "xymonnet")


@register("xymonproxy", "bbproxy", files=("xymonproxy.rrd", "xymonproxy.{test}.rrd"))
def parse_xymonproxy(msg: Message, ctx: Context) -> Iterator[Update]:
    yield from _runtime(msg, "Average queue time", _PROXY_TIME, "xymonproxy")


def _runtime(msg: Message, marker: str, regex: re.Pattern[str], own: str) -> Iterator[Update]:
    """xymonnet/xymonproxy: only the first occurrence of the marker counts."""
    pos = msg.body.find(marker)
    m = regex.match(msg.body, pos) if pos >= 0 else None
    if m:
        runtime = printf_f(strtof(m.group(1)), "%.2f")
        yield Update(filename(own, msg.testname, own), RUNTIME_SCHEMA, (runtime,))
