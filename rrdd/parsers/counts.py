"""counts: what xymond_client tracks for analysis.cfg TRACK rules -> one file per item.

Handles: proccounts, portcounts, filesizes, linecounts, deltacounts

Sample body (xymond_client, from the ``[linecount:/var/log/messages]`` section of a client
whose client-local.cfg has ``linecount:/var/log/messages`` with ``diskerrors:`` and
``badlogins:`` patterns)::

    data web01,example,com.linecounts
    /var/log/messages#diskerrors:0
    /var/log/messages#badlogins:17

xymond_client builds these data messages on the Xymon server from each client report:

    proccounts   ``<id>:<processes>`` for PROC rules with TRACK=id (a bare TRACK: ``default``)
    portcounts   ``<id>:<sockets>`` for PORT rules with TRACK=id (a bare TRACK: ``default``)
    filesizes    ``<file>:<bytes>`` for FILE, ``<dir>:<KB>`` for DIR rules with TRACK (TRACK=id:
                 ``<id>`` instead of the path)
    linecounts   ``<file>#<id>:<matching lines>`` from the client's linecount sections
    deltacounts  ``<file>#<id>:<new matching lines>`` from its deltacount sections

Every line after the first is ``<name>:<value>``, split like C's strtok at ``:``: empty
fields do not count, so ``a::5`` is name ``a``, value ``5``, ``a:5:6`` gives ``5``, and a
line without two fields is skipped. A ``:`` in a file name arrives as ``;`` (xymond_client
changes it, for Windows paths). The value is passed on as text (rrdtool judges it).

Writes:
    processes.<id>.rrd        count (GAUGE)
    ports.<id>.rrd            count (GAUGE)
    filesizes.<file>.rrd      size (GAUGE)
    lines.<file>#<id>.rrd     count (DERIVE)
    deltalines.<file>#<id>.rrd  count (GAUGE)
    In <id> and <file> "/" -> "," and " " -> "_": filesizes.,var,log,messages.rrd,
    lines.,var,log,messages#badlogins.rrd, filesizes.C;\\Windows\\Temp.rrd
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import Parser, register
from rrdd.schema import Schema, Update, commas, rrdname

COUNT_SCHEMA = Schema.of("DS:count:GAUGE:600:0:U")
DERIVE_SCHEMA = Schema.of("DS:count:DERIVE:600:0:U")
SIZE_SCHEMA = Schema.of("DS:size:GAUGE:600:0:U")

# handler id -> (file name prefix, schema)
KINDS = {
    "proccounts": ("processes", COUNT_SCHEMA),
    "portcounts": ("ports", COUNT_SCHEMA),
    "filesizes": ("filesizes", SIZE_SCHEMA),
    "linecounts": ("lines", DERIVE_SCHEMA),
    "deltacounts": ("deltalines", COUNT_SCHEMA),
}

# The first two non-empty ':'-separated fields of a line, as two strtok() calls find them.
NAME_VALUE = re.compile(r"^:*([^:\n]+):+([^:\n]+)", re.MULTILINE)


def stored(text: str) -> str:
    """The value text as rrdtool can take it: no surrounding blanks, "U" when empty.

    xymond passes blanks on, and rrdtool then rejects the whole update (a trailing blank
    or CR always, a leading one for COUNTER and DERIVE), losing the reading.
    """
    return text.strip(" \t\r") or "U"


def _counter(prefix: str, schema: Schema) -> Parser:
    def parse(msg: Message, ctx: Context) -> Iterator[Update]:
        body = msg.body
        start = body.find("\n") + 1
        if start == 0:
            return
        for m in NAME_VALUE.finditer(body, start):
            name, value = m.groups()
            yield Update(f"{prefix}.{rrdname(commas(name))}.rrd", schema, (stored(value),))

    parse.__name__ = f"parse_{prefix}"
    return parse


for _id, (_prefix, _schema) in KINDS.items():
    register(_id, files=(f"{_prefix}.*.rrd",))(_counter(_prefix, _schema))
