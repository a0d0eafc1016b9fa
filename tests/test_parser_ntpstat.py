"""ntpstat: the number is read as glibc's sscanf("%lf") reads it, printed as printf("%.6f").

The expected strings were checked against glibc's sscanf and snprintf.
"""

from __future__ import annotations

import pytest

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers.ntpstat import parse


def offset(text: str) -> list[str]:
    body = f"status srv1,example,com.ntpstat green Sun Nov 22 02:00:00 UTC 2026\n{text}\n"
    msg = Message("status", 1, 1795312871, "", "srv1", "ntpstat", "green", "", "", "", body)
    return [u.values[0] for u in parse(msg, Context())]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("Offset: 0.352 ms", "0.352000"),
        ("Offset:\n  -4", "-4.000000"),  # %lf skips any white space, newlines too
        ("Offset: 1e", "1.000000"),  # an exponent without digits is not read
        ("Offset: 2.5E+2ms", "250.000000"),
        ("Offset: .5", "0.500000"),
        ("Offset: 0x1.8p1", "3.000000"),  # strtod reads hexadecimal too
        ("Offset: 0x.", "0.000000"),
        ("Offset: 0.0000005", "0.000000"),  # the binary value is just below the half
        ("Offset: 0.0000015", "0.000002"),
        ("Offset: -0", "-0.000000"),
        ("Offset: 1e400", "inf"),
        ("Offset: -Infinity", "-inf"),
        ("Offset: nan", "nan"),
        ("Offset: -nan(0x1)", "-nan"),
        ("Offset: infinity5", "inf"),
        ("offset=+12.75,", "12.750000"),
    ],
)
def test_numbers_read_and_printed_as_c_does(text: str, stored: str) -> None:
    assert offset(text) == [stored]


@pytest.mark.parametrize(
    "text",
    [
        "Offset: n/a",
        "Offset: - 3",
        "Offset: .e5",
        "Offset: 0xg",  # glibc's sscanf gives up after "0x" (strtod would read 0)
        "Offset: infin",  # and on a partial "infinity"
        "offset = 3",
        "no offset here",
        "Offset: none\noffset=none",
    ],
)
def test_no_number_no_update(text: str) -> None:
    assert offset(text) == []


def test_only_the_first_of_each_marker_counts() -> None:
    assert offset("Offset: bad\nOffset: 1\noffset=2") == ["2.000000"]
    assert offset("offset=bad\noffset=3") == []
    # "\nOffset:" needs a line start; "Offset:" inside a line is not it
    assert offset("clock Offset: 5 offset=6") == ["6.000000"]
