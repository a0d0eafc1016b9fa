"""trends: RRD files whose names and data sources the sender chooses.

Handles: trends (a ``data <host>.trends`` message, sent with ``xymon $XYMSRV "..."``)

Sample body::

    data web01,example,com.trends
    [weather.rrd]
    DS:temp:GAUGE:600:-50:60 21
    DS:wind:GAUGE:600:0:U 8
    [mail traffic.rrd]
    DS:received:COUNTER:600:0:U 1285522
    DS:bounced:ABSOLUTE:600:0:U 3

A line ``[<name>]`` starts a file; its name is the text up to ``]`` (or the line's end)
with spaces -> ``_``, and nothing else: ``.rrd`` is not added and ``/`` is kept (rrdd
refuses to write such a name, as it would leave the host's directory). Each following
``DS:...`` line (case-sensitive) is a DS definition, passed to rrdcreate as written, then
blanks, then its value. Lines of any other kind, ``DS:`` lines without a value, and ``DS:``
lines before the first ``[<name>]`` are ignored; a file without DS lines is not written.

Writes:
    <name>      DS from the message: its ``DS:`` lines, in their order, one schema per
                file (so no SCHEMA constant, and no file pattern for droptest and
                renametest). E.g. weather.rrd temp, wind (GAUGE);
                mail_traffic.rrd received (COUNTER), bounced (ABSOLUTE)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers.counts import stored
from rrdd.schema import Schema, Update, rrdname

# group 1: a file name line; groups 2, 3: a DS definition and the text after its blanks
LINE = re.compile(r"^(?:\[([^\]\n]*)|(DS:[^ \t\n]*)[ \t]+([^\n]*))", re.MULTILINE)


@register("trends", files=())
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    start = body.find("\n") + 1
    if start == 0:
        return
    name: str | None = None
    defs: list[str] = []
    values: list[str] = []
    for m in LINE.finditer(body, start):
        section, ds, value = m.groups()
        if section is not None:
            if name is not None and defs:
                yield Update(name, Schema.of(*defs), tuple(values), params=(name,))
            name, defs, values = rrdname(section), [], []
        elif name is None:
            # xymond writes DS lines that come before any [name] to the file name and
            # values the previous update left in its buffers; they belong to no file.
            continue
        else:
            defs.append(ds)
            values.append(stored(value))
    if name is not None and defs:
        yield Update(name, Schema.of(*defs), tuple(values), params=(name,))
