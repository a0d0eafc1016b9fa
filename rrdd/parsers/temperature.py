"""temperature: sensor temperatures in degrees Celsius.

Handles: temperature

Sample body (the temperature script from the deadcat.net archive; a TAB ends the
device name)::

    status srv1,example,com.temperature green Sun Nov 22 02:00:00 UTC 2026 Temperature OK
    Device                  Temp    Warning Critical
    ---------------------------------------------------------
    &green CPU0                  <TAB> 60    63      68
    &clear MB0                   <TAB> 46

Every line after the first that starts with ``&green``, ``&yellow``, ``&red`` or
``&clear`` is a sensor. A comment in parentheses is cut off, then one leading ``<i><b>``,
``<i>``, ``<b><i>`` or ``<b>`` right after the colour, then blanks. The name runs to the
first TAB (trailing blanks trimmed); the value is the integer after it. A sensor line
without a TAB is skipped.

Writes:
    temperature.<device>.rrd   temperature (GAUGE, min 1): degrees C; the device name with
                               "/" -> "," and " " -> "_": temperature.CPU_0_Die.rrd
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import atoi
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update, commas, rrdname

# Minimum 1: a reading of 0 C or less is stored as unknown, as in xymond.
SCHEMA = Schema.of("DS:temperature:GAUGE:600:1:U")

SENSOR = re.compile(r"\n&(green|yellow|red|clear)([^\n]*)")
TAG = re.compile(r"<i><b>|<i>|<b><i>|<b>", re.IGNORECASE | re.ASCII)
SPACE = " \t\n\v\f\r"  # C isspace()


@register("temperature", files=("temperature.*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    for m in SENSOR.finditer(msg.body):
        line = m.group(2)
        # xymond cuts the comment before it checks the colour; a "(" in the colour word
        # would have to be cut too, but no colour word has one.
        left, right = line.find("("), line.find(")")
        if 0 <= left < right:
            line = line[:left]
        tag = TAG.match(line)
        if tag is not None:
            line = line[tag.end() :]
        line = line.lstrip(" \t")
        tab = line.find("\t")
        if tab < 0:
            # xymond dereferences a null pointer here and dies; rrdd skips the line.
            continue
        end = tab
        while end > 0 and line[end] in SPACE:
            end -= 1
        name = line[: end + 1]
        yield Update(rrdname(f"temperature.{commas(name)}.rrd"), SCHEMA, (str(atoi(line[tab:])),))
