"""tcp (net.py): what the golden cases cannot show.

The ping column comes from PINGCOLUMN through the context; the ntp test also writes its
"Seconds:" time; values are C floats (scanf's %f rounds the text straight to single
precision); droptest/renametest must touch only the files of the test they name.
"""

from __future__ import annotations

import math

import pytest

from rrdd.channel import Message
from rrdd.cnum import strtof
from rrdd.context import Context
from rrdd.parsers import load_builtins, matching_files
from rrdd.schema import Update

HANDLERS = load_builtins()
TS = 1_736_240_400
FIRST = "Tue Jan  7 10:00:00 2025"


def status(test: str, text: str, host: str = "web01.example.com") -> Message:
    body = f"status+30 {host.replace('.', ',')}.{test} green {FIRST} {test} ok \n{text}"
    return Message("status", 1, TS, "127.0.0.1", host, test, "green", "OrdastLe", "", "", body)


def run(msg: Message, ctx: Context | None = None) -> list[tuple[str, tuple[str, ...]]]:
    updates: list[Update] = list(HANDLERS["tcp"].parse(msg, ctx or Context()))
    return [(u.rrd, u.values) for u in updates]


PING = "\nService ping on web01.example.com is OK (up)\n\n\n&green 192.0.2.10 is alive (2.5 ms)\n"


def test_pingcolumn_from_the_context() -> None:
    ctx = Context()
    setattr(ctx, "pingcolumn", "ping")  # noqa: B010 - PINGCOLUMN=ping
    assert run(status("ping", PING), ctx) == [("tcp.ping.rrd", ("0.002500",))]
    # "conn" is then an ordinary test: it has no "Seconds:", so nothing is written.
    assert run(status("conn", PING), ctx) == []


def test_pingcolumn_defaults_to_conn() -> None:
    assert run(status("conn", PING)) == [("tcp.conn.rrd", ("0.002500",))]
    assert run(status("ping", PING)) == []


def test_ping_ignores_seconds_and_reads_no_further_than_the_message() -> None:
    # "alive" at the very end: xymond reads past the message; rrdd finds no number.
    assert run(status("conn", "\n&green 192.0.2.10 is alive")) == [("tcp.conn.rrd", ("0.000000",))]
    text = "\n&green 192.0.2.10 is alive (0.5 ms)\n\nSeconds: 3.000000000\n"
    assert run(status("conn", text)) == [("tcp.conn.rrd", ("0.000500",))]
    # A number without a unit is taken as seconds; "time=" wins over "alive".
    assert run(status("conn", "\nalive (9 ms)\ntime=2 s\n")) == [("tcp.conn.rrd", ("2.000000",))]


def test_ntp_also_writes_its_seconds() -> None:
    text = "\nstratum 2, offset -0.000250 +/- 0.001500 sec, delay 0.000900 sec\n\nSeconds: 0.020\n"
    assert run(status("ntp", text)) == [
        ("ntp.rrd", ("-0.250000", "1.500000")),
        ("tcp.ntp.rrd", ("0.020000",)),
    ]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("offset 0.5\n+/- -0.2 sec", ("500.000000", "U")),  # a negative bound is no bound
        ("offset 0.5\n+/- nan", ("500.000000", "U")),
        ("offset 0.5\n+/- 1e306", ("500.000000", "U")),  # infinite in ms: xymond writes "inf"
        ("offset 0x1p-2, delay", ("250.000000", "U")),  # strtod reads hex
        ("offset  \t1e-3\n", ("1.000000", "U")),  # strtok skips the blanks before it
        ("offset 1e16 +/- 1e16", ("10000000000000000000.000000", "10000000000000000000.00")),
    ],
)
def test_ntp_numbers(text: str, values: tuple[str, str]) -> None:
    assert run(status("ntp", "\n" + text)) == [("ntp.rrd", values)]


@pytest.mark.parametrize("token", ["inf", "nan", "12junk", "1,,", "", "-"])
def test_ntp_offset_that_is_no_sample(token: str) -> None:
    assert run(status("ntp", f"\nstratum 3, offset {token}\n+/- 0.1\n")) == []


@pytest.mark.parametrize(
    ("seconds", "default", "http"),
    [
        # values checked against glibc: sscanf("Seconds: %f") then printf
        ("1234.567891", "1234.567871", "1234.57"),
        ("16777217", "16777216.000000", "16777216.00"),
        ("0.155", "0.155000", "0.16"),
        ("0.125", "0.125000", "0.12"),
        ("1e39", "U", "U"),  # a float's infinity: xymond would print "inf"
    ],
)
def test_seconds_are_c_floats(seconds: str, default: str, http: str) -> None:
    assert run(status("ssh", f"\n\nSeconds: {seconds}\n")) == [("tcp.ssh.rrd", (default,))]
    text = f"\n&green http://www.example.com/ - OK\n\nSeconds: {seconds}\n"
    assert run(status("http", text)) == [("tcp.http.www.example.com,.rrd", (http,))]


def test_strtof_rounds_the_text_not_the_double() -> None:
    # The double nearest this text is exactly halfway between two floats.
    assert strtof("0.300000026822090148925781250001") == 0.30000004172325134
    assert strtof("0.300000026822090148925781249999") == 0.30000001192092896
    assert strtof("0.30000002682209014892578125") == 0.30000001192092896  # a true tie: even
    assert math.isinf(strtof("3.5e38")) and strtof("-1e-50") == 0.0


def test_http_url_waits_for_its_seconds() -> None:
    text = (
        "\n&green http://a.example.com/ - OK\n"
        "&yellow a colour line without a URL keeps the URL\n"
        "Total Seconds: 0.5\n"  # "Seconds:" anywhere in a line
        "\n&clear http://b.example.com/ - Ping failed\n\nSeconds: 0.7\n"  # no URL waiting
        "\n&red https://c.example.com/x y - Connection refused\nSeconds:0.9\n"
        "\n&green http://d.example.com/\n&green http://e.example.com/\nSeconds: 1.1\n"
    )
    assert run(status("http", text)) == [
        ("tcp.http.a.example.com,.rrd", ("0.50",)),
        ("tcp.http.https:,,c.example.com,x.rrd", ("0.90",)),
        ("tcp.http.e.example.com,.rrd", ("1.10",)),
    ]


def test_test_names_are_case_sensitive() -> None:
    text = "\n&green http://www.example.com/ - OK\n\nSeconds: 0.25\n"
    assert run(status("HTTP", text)) == [("tcp.HTTP.rrd", ("0.250000",))]


FILES = [
    "tcp.conn.rrd",
    "tcp.ssh.rrd",
    "tcp.ssh2.rrd",
    "tcp.ntp.rrd",
    "ntp.rrd",
    "ntpstat.rrd",
    "tcp.http.www.example.com,.rrd",
    "tcp.http.https:,,www.example.com,login.rrd",
    "la.rrd",
]


@pytest.mark.parametrize(
    ("test", "dropped"),
    [
        ("conn", ["tcp.conn.rrd"]),
        ("ssh", ["tcp.ssh.rrd"]),
        ("ntp", ["tcp.ntp.rrd", "ntp.rrd"]),
        ("http", ["tcp.http.www.example.com,.rrd", "tcp.http.https:,,www.example.com,login.rrd"]),
    ],
)
def test_droptest_takes_only_the_files_of_that_test(test: str, dropped: list[str]) -> None:
    found = matching_files(HANDLERS["tcp"], test, FILES)
    assert sorted(old for old, _ in found) == sorted(dropped)


def test_renametest() -> None:
    renames = dict(matching_files(HANDLERS["tcp"], "http", FILES, "web"))
    assert renames["tcp.http.www.example.com,.rrd"] == "tcp.web.www.example.com,.rrd"
