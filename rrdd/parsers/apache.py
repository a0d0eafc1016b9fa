"""apache: Apache httpd mod_status counters.

Handles: apache

Sample body (xymonnet's ``apache`` test fetches ``/server-status?auto`` and sends it as a
data message; the same text also arrives as an ``apache`` status)::

    data www,example,com.apache
    Total Accesses: 131
    Total kBytes: 87
    CPULoad: .00247331
    Uptime: 5296
    ReqPerSec: .0247356
    BusyWorkers: 1
    IdleWorkers: 7
    Scoreboard: _W______......

Each value is the text after the first ``Total Accesses:``, ``Total kBytes:``,
``BusyWorkers:``, ``IdleWorkers:``, ``CPULoad:`` and ``ReqPerSec:`` up to the end of its
line, blanks around it dropped, passed to rrdtool unchecked; a missing or empty one is U.
Apache 1.x says ``BusyServers:`` and ``IdleServers:``, which count as the 2.x names.

Writes:
    apache.rrd   TA (DERIVE): total accesses, TKB (DERIVE): total kilobytes,
                 BW (GAUGE, min 1): busy workers, IW (GAUGE, min 1): idle workers,
                 CPU (GAUGE): CPU load, REQPERSEC (GAUGE): requests per second
"""

from __future__ import annotations

from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

# BW and IW have minimum 1, so 0 busy or idle workers is stored as unknown, as in xymond.
SCHEMA = Schema.of(
    "DS:TA:DERIVE:600:0:U",
    "DS:TKB:DERIVE:600:0:U",
    "DS:BW:GAUGE:600:1:U",
    "DS:IW:GAUGE:600:1:U",
    "DS:CPU:GAUGE:600:0:U",
    "DS:REQPERSEC:GAUGE:600:0:U",
)
BLANKS = " \t\v\f\r"
MARKERS = (
    "Total Accesses:",
    "Total kBytes:",
    "BusyWorkers:",
    "IdleWorkers:",
    "CPULoad:",
    "ReqPerSec:",
)


@register("apache", files=("apache.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    if "Servers:" in body:
        # xymond renames only the first of each in place, then searches for the 2.x names.
        body = body.replace("BusyServers:", "BusyWorkers:", 1)
        body = body.replace("IdleServers:", "IdleWorkers:", 1)
    values = []
    for marker in MARKERS:
        pos = body.find(marker)
        if pos < 0:
            values.append("U")
            continue
        start = pos + len(marker)
        end = body.find("\n", start)
        # The text as xymond sends it (".00247" stays ".00247"), except that blanks around
        # it and an empty value, which make rrdtool refuse the whole update, are dropped.
        values.append(body[start : end if end >= 0 else len(body)].strip(BLANKS) or "U")
    yield Update("apache.rrd", SCHEMA, tuple(values))
