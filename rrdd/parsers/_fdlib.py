"""Readers shared by the hobbit-perl-client handlers (netapp, dbcheck, beastat).

These reproduce xymond's do_fd_lib.c and the df-style row reading of its netapp and
dbcheck disk handlers (the disk and vmstat handlers split and read their columns with
`space_split` and `percent` too). A value is looked up by the **first occurrence of its key
anywhere** in the text, substrings included (``sessions`` also matches
``sessions_using_security_signatures``, whichever comes first); the number follows the
first ``:`` after the key on that line, else the first ``=``. A key that is not there
reads as 0, as in xymond.
"""

from __future__ import annotations

import re

from rrdd.cnum import INT64, atof, atoi, strtoll
from rrdd.context import Context
from rrdd.schema import Schema, Update, commas, rrdname

UNITS = {"M": 1024, "G": 1024**2, "T": 1024**3}  # a size suffix -> KB
U64 = 2**64

_TOKEN = re.compile(r"[^ ]+")


def after_key(text: str, key: str) -> str | None:
    """The rest of the line after the separator that follows the first `key`, or None."""
    pos = text.find(key)
    if pos < 0:
        return None
    end = text.find("\n", pos)
    line = text[pos:] if end < 0 else text[pos:end]
    sep = line.find(":")
    if sep < 0:
        sep = line.find("=")
    return None if sep < 0 else line[sep + 1 :]


def get_long(text: str, key: str) -> str:
    """get_long_data(): atol of the value, printed with %ld."""
    value = after_key(text, key)
    return "0" if value is None else str(strtoll(value))


def get_kb(text: str, key: str) -> str:
    """get_kb_data(): atol, times 1024 per M/G/T suffix (after digits, dots and spaces)."""
    value = after_key(text, key)
    if value is None:
        return "0"
    number = strtoll(value)
    suffix = value.lstrip("0123456789. ")[:1]
    # unsigned long arithmetic, printed back as a signed long
    return str(_signed64(number * UNITS.get(suffix, 1)))


def get_double(text: str, key: str) -> float:
    """get_double_data(): atof of the value."""
    value = after_key(text, key)
    return 0.0 if value is None else atof(value)


def comment_block(body: str) -> str | None:
    """The text from the first ``<!--`` up to the next ``-->``, or None."""
    start = body.find("<!--")
    if start < 0:
        return None
    end = body.find("-->", start)
    return None if end < 0 else body[start:end]


def strtok(text: str, first: str, later: str) -> list[str]:
    """C's strtok() over `text`: the first token split at `first`, the others at `later`."""
    found: list[str] = []
    pos, delims = 0, first
    while True:
        while pos < len(text) and text[pos] in delims:
            pos += 1
        if pos >= len(text):
            return found
        end = pos
        while end < len(text) and text[end] not in delims:
            end += 1
        found.append(text[pos:end])
        pos, delims = end + 1, later


def space_split(line: str) -> list[str]:
    """The columns of a line that spaces separate and tabs do not, as strtok(" ") finds them."""
    # split() is quicker, and the same when the line has no blank but the space (a
    # printable line has no other).
    return line.split() if line.isprintable() else list(filter(None, line.split(" ")))


def only_spaces(text: str) -> bool:
    """True when the space is the only blank in `text` apart from newlines.

    Then str.split() splits each of its lines as `space_split` does. The test costs a few
    fast scans of the text, less than isprintable() on each of its lines.
    """
    return text.isascii() and not (
        "\t" in text
        or "\v" in text
        or "\f" in text
        or "\r" in text
        or "\x1c" in text
        or "\x1d" in text
        or "\x1e" in text
        or "\x1f" in text
    )


def tokens(line: str) -> list[re.Match[str]]:
    """The first 20 blank-separated columns of a row, as strtok(" ") finds them."""
    found = []
    for m in _TOKEN.finditer(line):
        found.append(m)
        if len(found) == 20:
            break
    return found


def used_kb(column: str) -> int:
    """A used size of a NetApp or dbcheck row in KB: digits, then an optional M/G/T.

    xymond reads it with strtoll, scales it as a double and casts it back, so values
    past 2**53 lose their low bits and a result past the long long range becomes its
    minimum (what the x86-64 conversion gives).
    """
    scaled = float(strtoll(column)) * UNITS.get(column.lstrip("0123456789.")[:1], 1)
    return int(scaled) if -INT64 <= scaled < INT64 else -INT64


def percent(column: str) -> int:
    """atoi() of a capacity column, its first '%' made a blank."""
    digits = column[:-1]
    if column[-1:] == "%" and digits.isdigit() and len(digits) < 10 and digits.isascii():
        return int(digits)  # the common "42%", without atoi's regex
    return atoi(column.replace("%", " ", 1))


def disk_update(
    ctx: Context, schema: Schema, test: str, name: str, pct: int, used: int
) -> Update | None:
    """The update of one df-style row, or None if RRDDISKS/NORRDDISKS leave it out.

    A percentage of -1 is xymond's "no reading" marker, so a row that says -1% is skipped.
    """
    if pct == -1:
        return None
    if ctx.norrddisks is not None and ctx.norrddisks.search(name):
        return None
    if ctx.rrddisks is not None and not ctx.rrddisks.search(name):
        return None
    diskname = commas(name)
    if diskname == ",":
        diskname = ",root"
    return Update(rrdname(f"{test}{diskname}.rrd"), schema, (str(pct), str(used)))


def _signed64(value: int) -> int:
    value %= U64
    return value - U64 if value >= INT64 else value
