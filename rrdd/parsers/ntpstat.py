"""ntpstat: the local clock's offset from NTP, in milliseconds.

Handles: ntpstat (also the ``time`` column through ``time=ntpstat``)

Sample bodies. The old LARRD ntpstat script::

    status srv1,example,com.ntpstat green Sun Nov 22 02:00:00 UTC 2026
    &green NTP OK

    Offset: 0.352 ms

and the contrib ntpstat script (``ntpq -c rv``)::

    associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,
    version="ntpd 4.2.8p15@1.3728-o", processor="x86_64", system="Linux/6.1.0",
    leap=00, stratum=3, precision=-24, rootdelay=1.517, rootdisp=23.442,
    refid=192.0.2.123, tc=10, mintc=3, offset=-0.123456, frequency=-12.345,
    sys_jitter=0.128, clk_jitter=0.045, clk_wander=0.004

The number (as C's strtod reads it) after the first ``\\nOffset:``; failing that, after
the first ``offset=``, wherever it is (Xymon 4.3 wanted a blank or a comma before it).

Writes:
    ntpstat.rrd   offsetms (GAUGE, U..U): the offset as printed, "%.6f"
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

SCHEMA = Schema.of("DS:offsetms:GAUGE:600:U:U")

MARKERS = ("\nOffset:", "offset=")
# What glibc's sscanf("%lf") reads: like strtod, except that "0x" must go on with a hex
# digit or a dot, and an "inf" that goes on with "i" must spell "infinity".
NUMBER = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)(?:"
    r"0x(?=[0-9a-f.])([0-9a-f]*\.?[0-9a-f]*(?:p[+-]?[0-9]+)?)"
    r"|(?!0x)((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)"
    r"|(inf(?:inity|(?!i))|nan)"  # "nan(...)" reads on, to the same value
    r")",
    re.IGNORECASE | re.ASCII,
)
HEXDIGIT = re.compile(r"[0-9a-f]", re.IGNORECASE)


@register("ntpstat", files=("ntpstat.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    for marker in MARKERS:
        pos = body.find(marker)
        if pos < 0:
            continue
        offset = _strtod(body, pos + len(marker))
        if offset is not None:
            yield Update("ntpstat.rrd", SCHEMA, (_printf6(offset),))
            return


def _strtod(text: str, pos: int) -> float | None:
    m = NUMBER.match(text, pos)
    if m is None:
        return None
    sign, hexa, decimal, word = m.groups()
    if hexa is not None:
        try:
            value = float.fromhex("0x" + hexa) if HEXDIGIT.match(hexa.lstrip(".")) else 0.0
        except OverflowError:
            value = math.inf
    elif decimal is not None:
        value = float(decimal)
    else:
        value = float(word)
    return -value if sign == "-" else value


def _printf6(value: float) -> str:
    """printf("%.6f"): Python rounds the same way; C spells a negative NaN "-nan"."""
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.6f}"
