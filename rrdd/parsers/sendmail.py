"""sendmail: per-mailer message and byte counters from ``mailstats``.

Handles: sendmail

Sample body (the LARRD bf-sendmail script, sendmail 8.13 and later)::

    status mx1,example,com.sendmail green Sun Nov 22 02:00:00 UTC 2026
    Statistics from Mon Apr 25 16:29:41 2005
     M   msgsfr  bytes_from   msgsto    bytes_to  msgsrej msgsdis msgsqur  Mailer
     3   183435     215701K        0          0K        0       0       0  local
     5        0          0K   183435     215544K        0       0       0  esmtp
    =====================================================================
     T   183435     215701K   183435     215544K        0       0       0

The rows between the column header (the line after ``Statistics ...``) and the first
line starting with ``==`` are read as 8.13+ (7 counters), 8.10 (6 counters, msgsqur U)
or older (4 counters; msgsrej, msgsdis and msgsqur U) columns, in that order; a row
that fits none is skipped. Byte columns end in ``K`` and are stored in bytes. Without
a ``==`` line, or a ``Statistics`` line before it, nothing is written.

Writes:
    sendmail.<mailer>.rrd   msgsfr, bytes_from, msgsto, bytes_to, msgsrej, msgsdis,
                            msgsqur (all DERIVE); an existing file with the old 6-DS
                            layout (no msgsqur) keeps it and gets the first 6 values
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

OLD_SCHEMA = Schema.of(
    "DS:msgsfr:DERIVE:600:0:U",
    "DS:bytes_from:DERIVE:600:0:U",
    "DS:msgsto:DERIVE:600:0:U",
    "DS:bytes_to:DERIVE:600:0:U",
    "DS:msgsrej:DERIVE:600:0:U",
    "DS:msgsdis:DERIVE:600:0:U",
)
SCHEMA = Schema.of(*OLD_SCHEMA.defs, "DS:msgsqur:DERIVE:600:0:U")

# sscanf("%*s %lu %luK %lu %luK ...") as patterns; possessive, because sscanf never
# gives back a character it has read (so "12345" is never read as "123" and "45").
_WS = r"[ \t\n\v\f\r]*+"
_WORD = _WS + r"([^ \t\n\v\f\r]++)"
_NUM = _WS + r"([+-]?[0-9]++)"
_FOUR = _WS + r"[^ \t\n\v\f\r]++" + _NUM + _NUM + "K" + _NUM + _NUM + "K"
LAYOUTS = (
    (re.compile(_FOUR + _NUM + _NUM + _NUM + _WORD), 7),  # 8.13+: msgsrej, msgsdis, msgsqur
    (re.compile(_FOUR + _NUM + _NUM + _WORD), 6),  # 8.10: msgsrej, msgsdis
    (re.compile(_FOUR + _WORD), 4),  # before 8.10
)
BYTE_COLUMNS = (1, 3)
ULONG = 2**64


@register("sendmail", files=("sendmail.*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    cut = body.find("\n==")
    if cut < 0:
        return
    stats = body.find("\nStatistics ", 0, cut)
    if stats < 0:
        return
    head = body.find("\n", stats + 1, cut + 1)  # end of the "Statistics from" line
    rows = body.find("\n", head + 1, cut + 1) if head >= 0 else -1  # end of the header
    if rows < 0 or rows == cut:
        return
    for line in body[rows + 1 : cut].split("\n"):
        row = _row(line)
        if row is None:
            continue
        mailer, values = row
        rrd = rrdname(f"sendmail.{commas(mailer)}.rrd")
        existing = ctx.existing_ds(msg.hostname, rrd)
        if existing is not None and len(existing) == 6:
            yield Update(rrd, OLD_SCHEMA, values[:6])
        else:
            yield Update(rrd, SCHEMA, values)


def _row(line: str) -> tuple[str, tuple[str, ...]] | None:
    """The mailer and its 7 values (U for the columns its layout lacks), or None."""
    for pattern, ncounters in LAYOUTS:
        m = pattern.match(line)
        if m is not None:
            counters = [_ulong(v) for v in m.groups()[:ncounters]]
            for i in BYTE_COLUMNS:
                counters[i] = counters[i] * 1024 % ULONG
            values = [str(v) for v in counters] + ["U"] * (7 - ncounters)
            return m.group(ncounters + 1), tuple(values)
    return None


def _ulong(text: str) -> int:
    """What sscanf's %lu stores: strtoul, so "-1" wraps and an overflow saturates."""
    value = int(text)
    if abs(value) >= ULONG:
        return ULONG - 1
    return value % ULONG
