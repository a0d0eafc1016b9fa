"""citrix: active Citrix sessions.

Handles: citrix

Sample body (the BBNT citrix extension, from ``query session``)::

    status ctx1,example,com.citrix green Sun Nov 22 02:00:00 UTC 2026
    &green Citrix OK
    12 users active

The line holding the first `` users active`` that ends a line must start (after blanks)
with the number; a first line holding it counts nothing.

Writes:
    citrix.rrd   users (GAUGE): active sessions
"""

from __future__ import annotations

from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import atoi, leading_int
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

SCHEMA = Schema.of("DS:users:GAUGE:600:0:U")


@register("citrix", files=("citrix.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    pos = body.find(" users active\n")
    if pos < 0:
        return
    # xymond reads from the line's start; when the text is on the first line it
    # starts one character into the message instead, which never holds a number.
    start = body.rfind("\n", 0, pos) + 1 or 1
    users = leading_int(body[start:pos])
    if users is not None:
        yield Update("citrix.rrd", SCHEMA, (str(atoi(users)),))
