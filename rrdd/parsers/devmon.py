"""devmon: RRD data blocks in the statuses of the Devmon SNMP collector.

Handles: devmon (the ``if_load`` and ``temp`` columns through ``if_load=devmon`` and
``temp=devmon``, and any column mapped to devmon)

Sample body (devmon, a template with ``TABLE: rrd(DS:ds0:ifInOctets:COUNTER;
DS:ds1:ifOutOctets:COUNTER)``)::

    status rtr01,example,com.if_load green Tue Jan  7 10:00:01 2025

    Alarming on (Gi0/1,Gi0/2)
    <table border=0 cellpadding=10>
    ...
    </table>
    <!--DEVMON RRD: if_load 0 0
    DS:ds0:COUNTER:600:0:U DS:ds1:COUNTER:600:0:U
    Gi0_1 4678222:9966777
    Gi0_2 1039922:774431
    -->

A block runs from a line starting with ``<!--DEVMON RRD: `` to a line starting with
``-->``; its file base name is the first word after the marker (the column name if there
is none). A line starting with ``DS:`` lists the DS definitions, separated by blanks (at
most 20; a second ``DS:`` line in a block only adds its definitions past the count the
first one gave, as in xymond). Every other line of the block is a row
``<instance> <v1>:<v2>:...`` of exactly two words, with at least as many values as there
are DS (empty values are skipped, extra ones ignored); other lines are skipped, and so
are the rows of a block without DS definitions.

Writes:
    <base>.<instance>.rrd   the DS from the message's ``DS:`` line, in its order, e.g.
                            if_load.Gi0_1.rrd (ds0, ds1 COUNTER); "/" in the instance
                            as ","
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

MARKER = "<!--DEVMON RRD: "
MAXCOLS = 20
# Where the first block starts: the marker at the start of the body or of a line.
_BLOCK = re.compile("^" + re.escape(MARKER), re.MULTILINE)


@register("devmon", files=())
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    first = _BLOCK.search(body)
    if first is None:
        return
    inside = False
    base = ""
    defs: list[str] = []
    schema: Schema | None = None
    for line in body[first.start() :].split("\n"):
        if line.startswith(MARKER):
            inside = True
            words = line[len(MARKER) :].split(" ")
            base = next((w for w in words if w), msg.testname)
            defs, schema = [], None
            continue
        if not inside:
            continue
        if line.startswith("-->"):
            inside = False
            continue
        cols = [c for c in line.split(" ") if c][:MAXCOLS]
        if line.startswith("DS:"):
            # xymond compares the new line's columns from the current DS count on.
            while len(defs) < MAXCOLS and len(defs) < len(cols):
                if not cols[len(defs)].startswith("DS:"):
                    break
                defs.append(cols[len(defs)])
            continue
        if len(cols) != 2:
            continue
        values = [v for v in cols[1].split(":") if v]
        # Without DS definitions of its own, xymond gives a block's rows no DS (rrdcreate
        # fails) or those of the previous block, which never described these files.
        if not values or not defs or len(values) < len(defs):
            continue
        if schema is None or len(schema.defs) != len(defs):
            schema = Schema.of(*defs)
        name = rrdname(f"{base}.{commas(cols[0])}.rrd")
        yield Update(name, schema, tuple(values[: len(defs)]))
