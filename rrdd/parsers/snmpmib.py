"""snmpmib: any MIB collection of snmpmibs.cfg, stored generically.

Handles: snmpmib (every test whose name is a MIB in snmpmibs.cfg; ``ifmib`` has its own
handler)

Sample body (xymond_client's ``hrstorage`` status, built from a ``client/snmpcollect``
message; the collector's ``<key>`` markers are already ``[key]``)::

    status srv1.example.com.hrstorage green Sun Nov 22 02:01:11 2026

    Interval=300
    ActiveIP=192.0.2.30


    [Physical memory]
        Type = .1.3.6.1.2.1.25.2.1.2
        Description = "Physical memory"
        Units = 1024 Bytes
        Size = 16303940
        Used = 9127284

The MIB is looked up by the test (column) name, caseless; a name that only reaches this
handler through a TEST2RRD alias finds no MIB, as in xymond. The DS list is not fixed: it
is the MIB's items with a ``/rrd:TYPE`` in snmpmibs.cfg, in file order, and their values
come from the message: ``name = value`` lines, the value kept when it is a number, else
U (``NODATA``). ``Interval=<n>`` sets the step of new files (RRA key ``<test>/<n>`` when n
is not 300); ``ActiveIP=`` is ignored.

A plain MIB reads the whole body. A tabular one (``keyidx``, ``validx`` or ``table``)
takes ``Interval=`` from the text before the first ``[key]`` line and reads each
``[key]`` block on its own. A file is written only when the number of lines naming a
stored item equals the number of DS (xymond's rule: a block that does not match the
configured MIB is skipped).

Writes:
    <test>.rrd         plain MIB, e.g. hrsystem.rrd: NumUsers NumProcesses MemorySize
    <test>.<key>.rrd   tabular MIB, e.g. hrstorage.Physical_memory.rrd, hrstorage.,var.rrd:
                       Units Size Used
    DS types as configured: GAUGE and ABSOLUTE with minimum U, COUNTER and DERIVE with
    minimum 0; heartbeat 600. In <key> "/" -> ","; " " -> "_" in the whole name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import atoi
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._common import skip_first_line
from rrdd.parsers.ifmib import number, step
from rrdd.schema import Schema, Update, commas, rrdname
from rrdd.snmpmibs import Mib

# One match per line that matters, leading blanks skipped: Interval=, ActiveIP= (matched
# so it is not read as data), or the first two words split at blanks and "=".
LINE = re.compile(
    r"^[ \t]*(?:Interval=([^\n]*)|ActiveIP=|[ =]*([^ =\n]+)[ =]+([^ =\n]+))", re.MULTILINE
)


@register("snmpmib", files=("{test}.rrd", "{test}.*.rrd"))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    mib = ctx.mibs.get(msg.testname.lower())
    if not isinstance(mib, Mib) or not mib.schema.defs:
        return
    body = msg.body
    start = skip_first_line(body)
    wanted = frozenset(mib.schema.names)
    if not mib.tabular:
        row, interval = _block(body[start:], mib.schema, wanted, 0)
        if row is not None:
            yield Update(rrdname(f"{msg.testname}.rrd"), mib.schema, row, step(interval))
        return
    if body.startswith("[", start):
        # xymond looks for the first "\n[" and so never reads a block on the very first
        # data line; here it is read like the others.
        head, rest = "", body[start + 1 :]
    else:
        cut = body.find("\n[", start)
        if cut < 0:
            return
        head, rest = body[start:cut], body[cut + 2 :]
    pos = head.find("Interval=")
    interval = atoi(head[pos + 9 :]) if pos >= 0 else 0
    for block in rest.split("\n["):
        end = min((i for i in (block.find("]"), block.find("\n")) if i >= 0), default=len(block))
        key = block[:end]
        # An Interval= inside a block also holds for the blocks after it, as in xymond.
        row, interval = _block(block[end + 1 :], mib.schema, wanted, interval)
        if row is not None:
            name = rrdname(f"{msg.testname}.{commas(key)}.rrd")
            yield Update(name, mib.schema, row, step(interval))


def _block(
    text: str, schema: Schema, wanted: frozenset[str], interval: int
) -> tuple[tuple[str, ...] | None, int]:
    """The row of one block (None unless it names exactly as many items as there are DS)
    and the poll interval after it."""
    values: dict[str, str] = {}
    count = 0
    for m in LINE.finditer(text):
        intvl, name, value = m.groups()
        if intvl is not None:
            interval = atoi(intvl)
        elif name in wanted:
            values[name] = number(value)
            count += 1
    if count != len(schema.names):
        return None, interval
    return tuple(values.get(n, "U") for n in schema.names), interval
