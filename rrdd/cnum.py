"""Numbers read and printed the way Xymon's C code does (atoi, strtoll, strtod, scanf's
%f into a float, printf), so stored values stay identical."""

from __future__ import annotations

import math
import re
import struct
from fractions import Fraction

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


def leading_int(text: str, pos: int = 0) -> str | None:
    """The digits (with an optional sign) an sscanf("%d") would read at `pos`, or None."""
    m = _INT.match(text, pos)
    return m.group(0).lstrip(" \t\n\v\f\r") if m else None


# --- floating point, as C reads and prints it ---------------------------------------

WS = " \t\n\v\f\r"  # C's isspace()
# What strtod() and scanf's %f read: decimal, hexadecimal, inf, infinity, nan, nan(...)
FLOAT = (
    r"[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)"
)
NUMBER = re.compile(f"[{WS}]*({FLOAT})")  # group 1: the number strtod() reads
_STRTOUL = re.compile(f"[{WS}]*([+-]?)([0-9]+)")
ULONG = 2**64
_SINGLE = struct.Struct("<f")  # a C float
_SINGLE_BITS = struct.Struct("<I")  # its bits
HALFWAY_BITS = 2.0**25  # a float's 24-bit significand and one more bit


def strtod(text: str, pos: int = 0) -> float | None:
    """C's strtod() at `pos`: the number there, or None when there is none."""
    m = NUMBER.match(text, pos)
    return float_token(m.group(1)) if m else None


def atof(text: str, pos: int = 0) -> float:
    """C's atof() at `pos`: 0.0 when no number starts there."""
    value = strtod(text, pos)
    return 0.0 if value is None else value


def float_token(token: str) -> float:
    """The double strtod() makes of a token that `FLOAT` matched."""
    if "x" not in token and "X" not in token and "(" not in token:
        return float(token)  # no hex and no "nan(...)": float() reads it whole, as below
    if token.lstrip("+-")[1:2] in ("x", "X"):
        try:
            return float.fromhex(token)
        except OverflowError:  # strtod gives HUGE_VAL
            return -math.inf if token.startswith("-") else math.inf
    return float(token.split("(", 1)[0])


def float32(value: float) -> float:
    """A double stored into a C float (round to nearest even; too large: inf)."""
    try:
        single: float = _SINGLE.unpack(_SINGLE.pack(value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return single


def strtof(token: str) -> float:
    """The float scanf's %f makes of a token that `FLOAT` matched.

    glibc rounds the decimal text straight to single precision; rounding it to double
    first can land exactly between two floats, and then the exact text decides.
    """
    value = float_token(token)
    single = float32(value)
    if single == value or not math.isfinite(single) or "x" in token or "X" in token:
        return single
    # A double halfway between two floats has at most 25 significant bits; one with more
    # is no tie, and the float nearest to it is the one nearest to the text.
    if not (math.frexp(value)[0] * HALFWAY_BITS).is_integer():
        return single
    other = _next_float32(single, value)
    if (single + other) * 0.5 != value:
        return single
    exact = Fraction(token.split("(", 1)[0])
    if exact == Fraction(value):
        return single
    return max(single, other) if exact > Fraction(value) else min(single, other)


def _next_float32(single: float, toward: float) -> float:
    """The float next to `single` in the direction of `toward`."""
    bits: int = _SINGLE_BITS.unpack(_SINGLE.pack(single))[0]
    if single == 0.0:
        bits = 1 if toward > 0 else 0x80000001
    elif (toward > single) == (single > 0):
        bits += 1
    else:
        bits -= 1
    other: float = _SINGLE.unpack(_SINGLE_BITS.pack(bits))[0]
    return other


def c_int(value: float) -> int | None:
    """C's ``(int)`` cast of a float, or None where C's result is undefined."""
    if math.isfinite(value) and -(2**31) - 1 < value < 2**31:
        return int(value)
    return None


def printf_f(value: float, fmt: str) -> str:
    """printf of a double with `fmt` ("%.2f", "%05.2f", "%f"), inf and nan as glibc
    spells them (padded with blanks, never zeros)."""
    if math.isfinite(value):
        return fmt % value
    text = ("-" if math.copysign(1.0, value) < 0 else "") + ("inf" if math.isinf(value) else "nan")
    return text.rjust(atoi(fmt[1:].lstrip("0")))


def strtoul(text: str, pos: int = 0) -> int:
    """C's strtoul(text + pos, NULL, 10) for a 64-bit unsigned long."""
    m = _STRTOUL.match(text, pos)
    if not m:
        return 0
    digits = m.group(2).lstrip("0")
    value = int(digits or "0") if len(digits) <= 20 else ULONG  # int() refuses huge strings
    if value >= ULONG:
        return ULONG - 1
    return (ULONG - value) % ULONG if m.group(1) == "-" else value
