"""mailq: mail queue length.

Handles: mailq (also the ``nmailq`` column through ``nmailq=mailq``)

Sample bodies. The LARRD nmailq script and ``mailq`` output (the number before the
first ``requests``)::

    status mx1,example,com.mailq green Sun Nov 22 02:00:00 UTC 2026
    /var/spool/mqueue (3 requests)
    -----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
    ...
                    Total requests: 3

and the dual-queue script, whose in- and outgoing queues each have a header line and
the count on the next line::

    Mail queue out:
    &green          Mail Queue (26 requests)
    Mail queue in:
    &green          Mail Queue (2 requests)

The number before ``requests`` is read going back from it over blanks and then digits,
so ``Total requests: 3`` counts 0, and a count on the line before (``5`` then a line
``requests``) counts; postfix's ``Requests`` is not recognised. The dual-queue count is
the first number on the line after ``Mail queue in:`` / ``Mail queue out:``, 0 if none.

Writes:
    mailq.rrd                  mailq (GAUGE): messages queued
    mailqin.rrd, mailqout.rrd  mailq (GAUGE): the dual-queue counts
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import atoi
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

SCHEMA = Schema.of("DS:mailq:GAUGE:600:0:U")

DIGITS = re.compile(r"[0-9]+")
BLANKS = " \t\v\f\r"  # C isspace() less the newline, where xymond's walk back stops
NUMERALS = "0123456789"


@register("mailq", files=("mailq.rrd", "mailqin.rrd", "mailqout.rrd"))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    out = body.find("\nMail queue out:")
    inq = body.find("\nMail queue in:") if out >= 0 else -1
    if inq >= 0:
        outline = _next_line(body, out)
        inline = _next_line(body, inq)
        if outline is None or inline is None:
            return
        yield Update("mailqin.rrd", SCHEMA, (str(_first_number(inline)),))
        yield Update("mailqout.rrd", SCHEMA, (str(_first_number(outline)),))
        return
    pos = body.find("requests")
    if pos < 0:
        return
    p = max(pos - 1, 0)
    while p > 0 and body[p] in BLANKS:
        p -= 1
    while p > 0 and body[p - 1] in NUMERALS:
        p -= 1
    yield Update("mailq.rrd", SCHEMA, (str(atoi(body[p:pos])),))


def _next_line(body: str, header: int) -> str | None:
    """The line after the header line starting at body[header + 1]; None when the header
    line is the last one (xymond then writes nothing)."""
    eol = body.find("\n", header + 1)
    if eol < 0:
        return None
    end = body.find("\n", eol + 1)
    return body[eol + 1 : end if end >= 0 else len(body)]


def _first_number(line: str) -> int:
    m = DIGITS.search(line)
    return atoi(m.group()) if m else 0
