"""ifmib: interface counters from xymon-snmpcollect -> one file per interface.

Handles: ifmib

Sample body (xymond_client's ``ifmib`` status, built from a ``client/snmpcollect``
message; the collector's ``<eth0>`` markers are already ``[eth0]``, OIDs without an
answer read ``NODATA``)::

    status core1.example.com.ifmib green Sun Nov 22 02:01:11 2026

    Interval=300
    ActiveIP=192.0.2.1


    [eth0]
        ifDescr = "eth0"
        ifInOctets = 3795346510
        ifInUcastPkts = 23875539
        ...
        ifHCInOctets = 12385280462
        ifHCOutMulticastPkts = NODATA

Lines before the first ``[device]`` are ignored. ``Interval=<n>`` (the collector's poll
interval) sets the step of new files, and their RRA definitions come from the
``<test>/<n>`` section of rrddefinitions.cfg when n is not 300. Of each device the 24
counter names below are read; a value is kept when it is a number, otherwise (``NODATA``)
it is U. A device is written when it carries at least one of the 24 names; a missing one
is U.

Writes:
    ifmib.<device>.rrd   ifInNUcastPkts ifInDiscards ifInErrors ifInUnknownProtos
                         ifOutNUcastPkts ifOutDiscards ifOutErrors (COUNTER), ifOutQLen
                         (GAUGE), ifInMcastPkts ifInBcastPkts ifOutMcastPkts ifOutBcastPkts
                         ifHCInMcastPkts ifHCInBcastPkts ifHCOutMcastPkts ifHCOutBcastPkts
                         InOctets OutOctets InUcastPkts OutUcastPkts (COUNTER).
    The last four take the 64-bit ifHC... counter when it is a number, else the 32-bit
    one. In <device> "/" -> "," and " " -> "_": ifmib.GigabitEthernet0,1.rrd
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import atoi
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._common import skip_first_line
from rrdd.schema import STEP, Schema, Update, commas, rrdname

SCHEMA = Schema.of(
    "DS:ifInNUcastPkts:COUNTER:600:0:U",
    "DS:ifInDiscards:COUNTER:600:0:U",
    "DS:ifInErrors:COUNTER:600:0:U",
    "DS:ifInUnknownProtos:COUNTER:600:0:U",
    "DS:ifOutNUcastPkts:COUNTER:600:0:U",
    "DS:ifOutDiscards:COUNTER:600:0:U",
    "DS:ifOutErrors:COUNTER:600:0:U",
    "DS:ifOutQLen:GAUGE:600:0:U",
    "DS:ifInMcastPkts:COUNTER:600:0:U",
    "DS:ifInBcastPkts:COUNTER:600:0:U",
    "DS:ifOutMcastPkts:COUNTER:600:0:U",
    "DS:ifOutBcastPkts:COUNTER:600:0:U",
    "DS:ifHCInMcastPkts:COUNTER:600:0:U",
    "DS:ifHCInBcastPkts:COUNTER:600:0:U",
    "DS:ifHCOutMcastPkts:COUNTER:600:0:U",
    "DS:ifHCOutBcastPkts:COUNTER:600:0:U",
    "DS:InOctets:COUNTER:600:0:U",
    "DS:OutOctets:COUNTER:600:0:U",
    "DS:InUcastPkts:COUNTER:600:0:U",
    "DS:OutUcastPkts:COUNTER:600:0:U",
)

# The message names of the first 16 DS, in DS order.
DIRECT = (
    "ifInNUcastPkts",
    "ifInDiscards",
    "ifInErrors",
    "ifInUnknownProtos",
    "ifOutNUcastPkts",
    "ifOutDiscards",
    "ifOutErrors",
    "ifOutQLen",
    "ifInMulticastPkts",
    "ifInBroadcastPkts",
    "ifOutMulticastPkts",
    "ifOutBroadcastPkts",
    "ifHCInMulticastPkts",
    "ifHCInBroadcastPkts",
    "ifHCOutMulticastPkts",
    "ifHCOutBroadcastPkts",
)
# The last 4 DS: (64-bit name, 32-bit name); the 64-bit counter wins when it is a number.
PAIRED = (
    ("ifHCInOctets", "ifInOctets"),
    ("ifHCOutOctets", "ifOutOctets"),
    ("ifHCInUcastPkts", "ifInUcastPkts"),
    ("ifHCOutUcastPkts", "ifOutUcastPkts"),
)
KNOWN = frozenset(DIRECT).union(*PAIRED)

# One match per line that matters, the line's leading blanks skipped: Interval=, a
# [device] header, or the first two words split at blanks and "=" (C's strtok(" =")).
LINE = re.compile(
    r"^[ \t]*(?:Interval=([^\n]*)|\[([^\]\n]*)|[ =]*([^ =\n]+)[ =]+([^ =\n]+))", re.MULTILINE
)
# A value rrdtool reads as a number. xymond keeps anything starting with a digit.
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")


def number(text: str) -> str:
    """The value as stored: the text when it is a number, else U (NODATA, strings)."""
    return text if NUMBER.fullmatch(text) else "U"


def step(interval: int) -> int:
    """The RRD step for a collector's ``Interval=``: 0 (none) means the default."""
    return interval if interval > 0 else STEP


@register("ifmib", files=("ifmib.*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    interval = 0
    device: str | None = None
    values: dict[str, str] = {}
    for m in LINE.finditer(msg.body, skip_first_line(msg.body)):
        text, header, name, value = m.groups()
        if text is not None:
            interval = atoi(text)
        elif header is not None:
            if device is not None and values:
                yield _update(device, values, interval)
            # Each device starts empty: xymond carries a short device's values over into
            # the next one and writes them into that interface's file.
            device, values = header, {}
        elif device is not None and name in KNOWN:
            values[name] = number(value)
    if device is not None and values:
        yield _update(device, values, interval)


def _update(device: str, values: dict[str, str], interval: int) -> Update:
    row = [values.get(n, "U") for n in DIRECT]
    for wide, narrow in PAIRED:
        v = values.get(wide, "U")
        row.append(v if v != "U" else values.get(narrow, "U"))
    return Update(rrdname(f"ifmib.{commas(device)}.rrd"), SCHEMA, tuple(row), step(interval))
