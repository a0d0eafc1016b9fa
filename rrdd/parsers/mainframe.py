"""mainframe: paging, MDC and address-space use from the z/VM, z/VSE and z/OS clients.

Handles: paging (z/VM, z/VSE, z/OS), mdc (z/VM data message), maxuser (z/OS), nparts (z/VSE)

Sample body (z/VM paging; xymond_client puts the ``IND`` output after its summary)::

    status vm01,example,com.paging green Tue Jan  7 10:00:01 CET 2025 z/VM Paging Rate 12 per second
     AVGPROC-012% 02
    XSTORE-000031/SEC MIGRATE-0004/SEC
    MDC READS-000087/SEC WRITES-000003/SEC HIT RATIO-097%
    PAGING-12/SEC STEAL-000%

paging: the number after the first ``Rate`` (5 characters on); with ``z/VM`` in the body
and an ``XSTORE-<n>/SEC``, also that and ``MIGRATE-<n>/SEC``. mdc: the message's third line,
``<reads>:<writes>:<hitpct>``. maxuser/nparts: the percentage at the end of ``Maxuser:``,
``RSVTSTRT:``, ``RSVNONR:`` and ``Nparts:`` rows (``<label>: <n> Free: <n> Used: <n> <pct>``),
cut to a whole number; both ids look for all four labels.
A number that is not there is U (xymond_rrd writes whatever its variable held).

Writes:
    paging.pagerate.rrd, paging.xstore.rrd, paging.migrate.rrd   rate (GAUGE, per second)
    mdc.rrd         reads writes (GAUGE, per second)
    mdchitpct.rrd   hitpct (GAUGE 0..100)
    maxuser.maxuser.rrd, maxuser.rsvtstrt.rrd, maxuser.rsvnonr.rrd, nparts.rrd
                    util (GAUGE 0..100, percent)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import FLOAT, WS, atoi, c_int, strtof
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

PAGING_SCHEMA = Schema.of("DS:rate:GAUGE:600:0:U")
MDC_SCHEMA = Schema.of("DS:reads:GAUGE:600:0:U", "DS:writes:GAUGE:600:0:U")
MDCPCT_SCHEMA = Schema.of("DS:hitpct:GAUGE:600:0:100")
ASID_SCHEMA = Schema.of("DS:util:GAUGE:600:0:100")

INT = f"[{WS}]*([+-]?[0-9]+)"  # scanf's %d / %ld
_INT = re.compile(INT)
_MDC = re.compile(f"{INT}(?::{INT}(?::{INT})?)?")
# "<label>: %ld Free: %ld Used: %ld %f"; only the percentage is kept
_ASID = {
    label: re.compile(f"{label}:{INT}[{WS}]*Free:{INT}[{WS}]*Used:{INT}[{WS}]*({FLOAT})")
    for label in ("Maxuser", "RSVTSTRT", "RSVNONR", "Nparts")
}


@register("paging", files=("paging.pagerate.rrd", "paging.xstore.rrd", "paging.migrate.rrd"))
def parse_paging(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    pos = body.find("Rate")
    if pos < 0:
        return
    yield Update("paging.pagerate.rrd", PAGING_SCHEMA, (_int_at(body, pos + 5),))
    if "z/VM" in body:
        pos = body.find("XSTORE-")
        if pos >= 0:
            yield Update("paging.xstore.rrd", PAGING_SCHEMA, (_int_at(body, pos + 7),))
            pos = body.find("MIGRATE-")
            # xymond crashes when MIGRATE- is missing; its rate is simply unknown.
            migrate = _int_at(body, pos + 8) if pos >= 0 else "U"
            yield Update("paging.migrate.rrd", PAGING_SCHEMA, (migrate,))


@register("mdc", files=("mdc.rrd", "mdchitpct.rrd"))
def parse_mdc(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    first = body.find("\n")
    second = body.find("\n", first + 1) if first >= 0 else -1
    if second < 0:
        return
    m = _MDC.match(body, second + 1)
    reads, writes, hitpct = (_int(g) for g in m.groups()) if m else ("U", "U", "U")
    yield Update("mdc.rrd", MDC_SCHEMA, (reads, writes))
    yield Update("mdchitpct.rrd", MDCPCT_SCHEMA, (hitpct,))


@register("maxuser", "nparts", files=("maxuser.*.rrd", "nparts.rrd"))
def parse_asid(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    pos = body.find("Maxuser")
    if pos >= 0:
        yield Update("maxuser.maxuser.rrd", ASID_SCHEMA, (_pct(body, "Maxuser", pos),))
        # Each row is looked for after the previous one; xymond crashes when one is missing.
        for label in ("RSVTSTRT", "RSVNONR"):
            found = body.find(label, pos)
            pos = found if found >= 0 else pos
            value = _pct(body, label, found) if found >= 0 else "U"
            yield Update(f"maxuser.{label.lower()}.rrd", ASID_SCHEMA, (value,))
    pos = body.find("Nparts")
    if pos >= 0:
        yield Update("nparts.rrd", ASID_SCHEMA, (_pct(body, "Nparts", pos),))


def _int(digits: str | None) -> str:
    return "U" if digits is None else str(atoi(digits))


def _int_at(body: str, pos: int) -> str:
    """What ``sscanf(body + pos, "%d")`` reads, as "%d" prints it; U if nothing."""
    m = _INT.match(body, pos)
    return _int(m.group(1) if m else None)


def _pct(body: str, label: str, pos: int) -> str:
    m = _ASID[label].match(body, pos)
    value = c_int(strtof(m.group(4))) if m else None
    return "U" if value is None else str(value)
