"""iostat: Solaris disk I/O statistics in LARRD's bf-iostat format.

Handles: iostat (a status or data message; no current Xymon client sends it)

Sample body (LARRD bf-iostat, ``iostat -xn`` rows keyed to mount points)::

    status sol01,example,com.iostat green Tue Jan  7 10:00:00 CET 2025
    BEGINKEY
    d0 /
    d5 /var
    ENDKEY
    BEGINDATA
        r/s    w/s   kr/s   kw/s wait actv wsvc_t asvc_t  %w  %b s/w h/w trn tot device
        0.9    2.8    7.3    1.8  0.0  0.0    2.7    9.3   1   2   0   0   0   0 d0
        0.1    0.3    0.8    0.5  0.0  0.0    5.2   11.0   0   0   0   0   0   0 d5
    ENDDATA

A key line is ``<device> <mount point>`` (blank separated); a data line is 14 numbers and
the device. Rows whose device has no key (yet) are skipped; a device keyed twice takes its
latest mount point.

Writes:
    iostat.<mount>.rrd   rs, ws, krs, kws, wait, actv, wsvc_t, asvc_t, w, b, sw, hw, trn,
                         tot (GAUGE, min 1, so a 0.0 is stored as unknown), "%.1f"; the
                         mount with "/" -> ",", and "/" alone -> ",root":
                         iostat.,root.rrd, iostat.,var.rrd
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import NUMBER, strtof
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

SCHEMA = Schema.of(
    "DS:rs:GAUGE:600:1:U",
    "DS:ws:GAUGE:600:1:U",
    "DS:krs:GAUGE:600:1:U",
    "DS:kws:GAUGE:600:1:U",
    "DS:wait:GAUGE:600:1:U",
    "DS:actv:GAUGE:600:1:U",
    "DS:wsvc_t:GAUGE:600:1:U",
    "DS:asvc_t:GAUGE:600:1:U",
    "DS:w:GAUGE:600:1:U",
    "DS:b:GAUGE:600:1:U",
    "DS:sw:GAUGE:600:1:U",
    "DS:hw:GAUGE:600:1:U",
    "DS:trn:GAUGE:600:1:U",
    "DS:tot:GAUGE:600:1:U",
)

# Section markers (prefixes of a line) -> the state they start; None = outside.
MARKERS = (("BEGINKEY", "keys"), ("ENDKEY", None), ("BEGINDATA", "data"), ("ENDDATA", None))
WORD = re.compile(r"[ \t\n\v\f\r]*([^ \t\n\v\f\r]+)")


@register("iostat", files=("iostat.*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    mounts: dict[str, str] = {}
    state = None
    for line in msg.body.split("\n"):
        marker = next((m for m in MARKERS if line.startswith(m[0])), None)
        if marker is not None:
            state = marker[1]
        elif state == "keys":
            words = [w for w in line.split(" ") if w][:2]
            if len(words) == 2:
                mounts[words[0]] = ",root" if words[1] == "/" else commas(words[1])
        elif state == "data":
            row = _row(line)
            if row is not None and row[0] in mounts:
                yield Update(rrdname(f"iostat.{mounts[row[0]]}.rrd"), SCHEMA, row[1])


def _row(line: str) -> tuple[str, tuple[str, ...]] | None:
    """The device and 14 values of ``sscanf("%f" x 14 "%s")``, or None."""
    values = []
    pos = 0
    for _ in range(14):
        m = NUMBER.match(line, pos)
        if m is None:
            return None
        values.append(strtof(m.group(1)))
        pos = m.end()
    device = WORD.match(line, pos)
    if device is None:
        return None
    # xymond would print "inf"/"nan"; rrdd stores no reading instead.
    text = tuple(f"{v:.1f}" if math.isfinite(v) else "U" for v in values)
    return device.group(1), text
