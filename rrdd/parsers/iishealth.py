"""iishealth: IIS web server connections, queued requests and sessions.

Handles: iishealth

Sample body (the iishealth script from the deadcat.net archive, on a BBNT/BBWin client)::

    status iis01,example,com.iishealth green Sun Nov 22 02:00:00 UTC 2026 IIS is healthy
    &green Connections: 42
    &green RequestsQueued: 0
    &green Sessions: 17

Every line after the first is split into words at blanks, tabs and CRs; when the second
word is ``Connections:``, ``RequestsQueued:`` or ``Sessions:``, the third is the value
(read like C's atol). A line whose keyword has no value is skipped.

Writes:
    iishealth.connections.rrd, iishealth.requestqueued.rrd, iishealth.sessions.rrd
        realmempct (GAUGE): the count
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

# "realmempct" is a misnomer kept from xymond, so existing RRD files stay valid.
SCHEMA = Schema.of("DS:realmempct:GAUGE:600:0:U")

FILES = {
    "Connections:": "iishealth.connections.rrd",
    "RequestsQueued:": "iishealth.requestqueued.rrd",
    "Sessions:": "iishealth.sessions.rrd",
}
# The colour word, the keyword and the value, as strtok(" \t\r\n") splits a line.
LINE = re.compile(r"[ \t\r]*[^ \t\r\n]+[ \t\r]+([^ \t\r\n]+)(?:[ \t\r]+([^ \t\r\n]+))?")
ULONG = 2**64


@register("iishealth", files=tuple(FILES.values()))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    lines = msg.body.split("\n")
    for line in lines[1:]:
        m = LINE.match(line)
        if m is None:
            continue
        rrd = FILES.get(m.group(1))
        if rrd is None:
            continue
        value = m.group(2)
        if value is None:
            # xymond's loop never gets past such a line; rrdd skips just this one.
            continue
        # xymond prints atol()'s result with %lu: a negative count wraps to 2**64 - n.
        yield Update(rrd, SCHEMA, (str(strtoll(value) % ULONG),))
