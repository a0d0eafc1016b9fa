"""Numbers read the way Xymon's C code reads them (atoi, strtoll), so values stay identical."""

from __future__ import annotations

import re

_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?)0*([0-9]{1,20})([0-9]*)")
INT32 = 2**31
INT64 = 2**63


def atoi(text: str) -> int:
    """C's atoi(): blanks, an optional sign, digits; 0 when there are none.

    Results wrap to a C int as glibc's atoi does (it is strtol cast to int).
    """
    if text.isdigit() and len(text) < 10 and text.isascii():
        return int(text)  # the common case, without the regex
    value = strtoll(text)
    return (value + INT32) % (2 * INT32) - INT32


def strtoll(text: str) -> int:
    """C's strtoll(text, NULL, 10): like atoi but 64-bit, saturating on overflow."""
    if text.isdigit() and len(text) < 19 and text.isascii():
        return int(text)
    m = _INT.match(text)
    if not m:
        return 0
    sign, digits, more = m.groups()
    value = INT64 if more else int(digits)  # more than 20 digits overflows anyway
    return max(-INT64, min(INT64 - 1, -value if sign == "-" else value))


def leading_int(text: str) -> str | None:
    """The digits (with an optional sign) an sscanf("%d") would read, or None."""
    m = _INT.match(text)
    return m.group(0).lstrip(" \t\n\v\f\r") if m else None
