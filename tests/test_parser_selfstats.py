"""The C number readers and printers the self-statistics and mainframe handlers share."""

from __future__ import annotations

import math

import pytest

from rrdd.cnum import c_int, float32, float_token, printf_f, strtod, strtoul


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("   1234", 1234),
        (" -5", 2**64 - 5),  # unsigned wrap, printed by %lu
        ("18446744073709551615", 2**64 - 1),
        ("18446744073709551616", 2**64 - 1),  # ERANGE: ULONG_MAX
        ("-18446744073709551616", 2**64 - 1),
        ("0" * 5000 + "7", 7),
        ("9" * 5000, 2**64 - 1),
        ("\n  42 (4 readers)", 42),  # blanks include newlines
        ("x1", 0),
        ("", 0),
    ],
)
def test_strtoul(text: str, value: int) -> None:
    assert strtoul(text) == value


@pytest.mark.parametrize(
    ("value", "width", "text"),
    [
        (41.275, 0, "41.27"),
        (0.16, 5, "00.16"),
        (100.0, 5, "100.00"),
        (-0.0, 5, "-0.00"),
        (float("nan"), 5, "  nan"),  # glibc pads inf and nan with blanks
        (-float("nan"), 5, " -nan"),
        (-math.inf, 0, "-inf"),
    ],
)
def test_fixed2_prints_as_glibc(value: float, width: int, text: str) -> None:
    assert printf_f(value, f"%0{width}.2f" if width else "%.2f") == text


def test_float32_rounds_like_a_c_float() -> None:
    # A C float holding 41.275 prints as 41.28 where a double prints 41.27.
    assert printf_f(float32(41.275), "%.2f") == "41.28"
    assert printf_f(float32(0.045), "%.2f") == "0.05"
    assert float32(1e39) == math.inf
    assert float32(-1e39) == -math.inf


@pytest.mark.parametrize(
    ("token", "value"),
    [("0x1.8p1", 3.0), ("-0X.8", -0.5), ("INFINITY", math.inf), ("1e5", 1e5), (".5", 0.5)],
)
def test_float_token(token: str, value: float) -> None:
    assert float_token(token) == value


def test_float_token_nan_and_huge_hex() -> None:
    assert math.isnan(float_token("nan(x1)"))
    assert math.copysign(1.0, float_token("-nan")) < 0
    assert float_token("-0x1p99999") == -math.inf


def test_strtod_reads_what_strtod_reads() -> None:
    assert strtod("  12.5 %)") == 12.5
    assert strtod(" 1e") == 1.0
    assert strtod(" -nan %)") is not None
    assert strtod("  (12") is None


@pytest.mark.parametrize(
    ("value", "result"),
    [(9.99, 9), (-0.5, 0), (-2147483648.5, -2147483648), (2**31, None), (math.nan, None)],
)
def test_c_int_truncates_or_refuses(value: float, result: int | None) -> None:
    assert c_int(value) == result
