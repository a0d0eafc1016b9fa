"""mainframe_tables: per-region tables from the z/OS and z/VSE clients (CICS, getvis).

Handles: cics (z/OS, z/VSE), getvis (z/VSE)

Sample body (z/OS cics, as xymond_client writes it)::

    status mvs1,example,com.cics yellow Tue Jan  7 10:00:01 2025 One or more CICS Systems not OK
    &yellow CICS system CICSDEV1 not responding, removed
    Appl ID   Trans    DSA Pct    EDSA Pct
    CICSPRD1   1523       12.5        40.2
    CICSTST1     17       3.0        8.7
    CICSDEV1     -1       0.0        0.0


    Status message received from 192.0.2.32

cics: every line after the one holding the first ``Appl`` is a row
``<applid> <transactions> <dsa%> <edsa%>``; the percentages are cut to whole numbers.
getvis (only with ``z/VSE Getvis Map`` in the body): every line after the one starting at
the first ``PID `` is a row ``<pid> <jobname> <6 numbers> <used24%> <usedany%>``.
A line without the leading name and numbers (the closing "Status message received from"
line) is not a row; a missing percentage is U.

Writes:
    cics.<applid>.rrd   numtrans (GAUGE, transactions since the last report)
    dsa.<applid>.rrd    dsa edsa (GAUGE 0..100, percent)
    getvis.<pid>.rrd    below any (GAUGE 0..100, percent of 24-bit and of all getvis
                        used; "/" in the pid as ",")
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import FLOAT, atoi, c_int, strtof
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

CICS_SCHEMA = Schema.of("DS:numtrans:GAUGE:600:0:U")
DSA_SCHEMA = Schema.of("DS:dsa:GAUGE:600:0:100", "DS:edsa:GAUGE:600:0:100")
GETVIS_SCHEMA = Schema.of("DS:below:GAUGE:600:0:100", "DS:any:GAUGE:600:0:100")

# Rows are lines (strtok on newline skips empty ones), so blanks here never include \n.
_B = "[ \t\v\f\r]"
_WORD = f"{_B}*([^ \t\v\f\r\n]+)"
_NUM = f"{_B}*[+-]?[0-9]+"
# sscanf("%s %d %f %f"): applid and transactions make a row, the rest may be missing
_CICS = re.compile(
    f"^{_WORD}{_B}*([+-]?[0-9]+)(?:{_B}*({FLOAT})(?:{_B}*({FLOAT}))?)?", re.MULTILINE
)
# sscanf("%s %s %d %d %d %d %d %d %d %d"): the last two numbers are kept
_GETVIS = re.compile(
    f"^{_WORD}{_WORD}{_NUM * 6}(?:{_B}*([+-]?[0-9]+)(?:{_B}*([+-]?[0-9]+))?)?", re.MULTILINE
)


@register("cics", files=("cics.*.rrd", "dsa.*.rrd"))
def parse_cics(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    start = _after_line_of(body, "Appl")
    if start < 0:
        return
    # Measured: xymond_rrd stores only the first line after the heading and loses the
    # rest; for an empty table that is the "Status message received from" line, hence
    # its cics.Status.rrd. Here every row is kept and only rows count.
    for m in _CICS.finditer(body, start):
        appl, numtrans, dsa, edsa = m.groups()
        yield Update(rrdname(f"cics.{appl}.rrd"), CICS_SCHEMA, (str(atoi(numtrans)),))
        yield Update(rrdname(f"dsa.{appl}.rrd"), DSA_SCHEMA, (_pct(dsa), _pct(edsa)))


@register("getvis", files=("getvis.*.rrd",))
def parse_getvis(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    if "z/VSE Getvis Map" not in body:
        return
    start = _after_line_of(body, "PID ")
    if start < 0:
        return
    for m in _GETVIS.finditer(body, start):
        pid, _job, below, anyp = m.groups()
        values = tuple("U" if v is None else str(atoi(v)) for v in (below, anyp))
        yield Update(rrdname(f"getvis.{commas(pid)}.rrd"), GETVIS_SCHEMA, values)


def _after_line_of(body: str, text: str) -> int:
    """Where the line after the first one holding `text` starts; -1 if there is none."""
    pos = body.find(text)
    end = body.find("\n", pos) if pos >= 0 else -1
    return end + 1 if end >= 0 else -1


def _pct(token: str | None) -> str:
    """A scanf %f value, as C's (int) cast of the float gives it; U if there is none."""
    value = c_int(strtof(token)) if token is not None else None
    return "U" if value is None else str(value)
