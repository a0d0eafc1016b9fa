"""la: what the golden cases cannot show.

The Windows memory taken from a BBNT cpu report depends on the clock (xymond ignores it
for the first 6 minutes it runs, so that a separate memory report can register its host
first) and on state from other messages (hosts that sent a memory status never use it).
The arithmetic is C integer arithmetic on byte counts.
"""

from __future__ import annotations

import pytest

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers import load_builtins
from rrdd.schema import Update

HANDLERS = load_builtins()
START = 1_795_312_800.0


class FakeClock:
    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now


def cpu_report(
    host: str,
    phys: tuple[str, str] = ("66510848", "31428608"),
    page: tuple[str, str] = ("161222656", "99876864"),
) -> Message:
    """A classic BBNT cpu status with its four memory lines (bytes)."""
    body = (
        f"status {host.replace('.', ',')}.cpu green Sun Nov 22 00:00:00 UTC 2026 [ntserver] "
        "up: 3 days, 1 users, 16 procs, load=1%, PhysicalMem: 64MB(53%)\n"
        "\n"
        f"Total Physical memory:      {phys[0]} bytes\n"
        f"Available Physical memory:  {phys[1]} bytes\n"
        f"Total PageFile size:        {page[0]} bytes\n"
        f"Available PageFile size:    {page[1]} bytes\n"
    )
    return Message("status", 1, int(START), "", host, "cpu", "green", "", "win32", "", body)


def memory_report(host: str, body: str) -> Message:
    first = f"status {host.replace('.', ',')}.memory green Sun Nov 22 00:00:00 UTC 2026\n"
    return Message("status", 2, int(START), "", host, "memory", "green", "", "", "", first + body)


def run(handler: str, msg: Message, ctx: Context) -> list[Update]:
    return list(HANDLERS[handler].parse(msg, ctx))


def memory_files(updates: list[Update]) -> dict[str, str]:
    return {u.rrd: u.values[0] for u in updates if u.rrd.startswith("memory.")}


def aged_context(seconds: float = 360) -> tuple[Context, FakeClock]:
    """A context whose la handler first ran `seconds` ago."""
    clock = FakeClock()
    ctx = Context(clock=clock)
    run("la", cpu_report("first.example.com"), ctx)
    clock.now += seconds
    return ctx, clock


def test_no_memory_from_cpu_in_the_first_six_minutes() -> None:
    clock = FakeClock()
    ctx = Context(clock=clock)
    first = run("la", cpu_report("nt01.example.com"), ctx)
    assert [u.rrd for u in first] == ["la.rrd", "procs.rrd", "users.rrd"]
    clock.now += 359
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx)) == {}
    clock.now += 1
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx)) == {
        "memory.real.rrd": "53",
        "memory.swap.rrd": "39",
    }


def test_the_grace_period_counts_from_the_first_la_message_not_per_host() -> None:
    ctx, _ = aged_context(400)
    # a host seen for the first time after 6 minutes of uptime gets its memory at once
    assert memory_files(run("la", cpu_report("new.example.com"), ctx)) == {
        "memory.real.rrd": "53",
        "memory.swap.rrd": "39",
    }


def test_the_grace_period_starts_with_the_la_handler() -> None:
    clock = FakeClock()
    ctx = Context(clock=clock)
    run("memory", memory_report("unix.example.com", "Real/Physical 1M 2M 50%\n"), ctx)
    clock.now += 600
    # memory ran 10 minutes ago, but this is the la handler's first message
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx)) == {}


def test_hosts_with_a_memory_status_never_use_the_cpu_report() -> None:
    ctx, clock = aged_context()
    run("memory", memory_report("nt01.example.com", "   Memory  Used  Total  Percentage\n"), ctx)
    assert "nt01.example.com" in ctx.memhosts  # even though that report held no numbers
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx)) == {}
    clock.now += 3600
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx)) == {}
    # another host is not affected
    assert memory_files(run("la", cpu_report("nt02.example.com"), ctx)) == {
        "memory.real.rrd": "53",
        "memory.swap.rrd": "39",
    }


def test_a_memory_status_after_cpu_reports_stops_the_fallback() -> None:
    ctx, _ = aged_context()
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx))
    run("memory", memory_report("nt01.example.com", "Real/Physical 1M 2M 50%\n"), ctx)
    assert memory_files(run("la", cpu_report("nt01.example.com"), ctx)) == {}


def test_memory_updates_follow_the_la_updates_and_use_the_memory_schema() -> None:
    ctx, _ = aged_context()
    updates = run("la", cpu_report("nt01.example.com"), ctx)
    assert [u.rrd for u in updates] == [
        "la.rrd",
        "procs.rrd",
        "users.rrd",
        "memory.real.rrd",
        "memory.swap.rrd",
    ]  # no memory.actual.rrd: xymond passes -1 for it
    assert updates[3].schema.defs == ("DS:realmempct:GAUGE:600:0:U",)
    assert updates[0].schema.defs == ("DS:la:GAUGE:600:U:U",)


@pytest.mark.parametrize(
    ("phys", "page", "real", "swap"),
    [
        # pt = 66510848/100 = 665108; 31428608/665108 = 47.25 -> 47; 100-47 = 53
        # gt = 161222656/100 = 1612226; 99876864/1612226 = 61.9 -> 61; 100-61 = 39
        (("66510848", "31428608"), ("161222656", "99876864"), "53", "39"),
        # 4 GiB: pt = 42949672; 1073741824/42949672 = 25.0000001 -> 25
        (("4294967296", "1073741824"), ("8589934592", "6442450944"), "75", "25"),
        # everything free, nothing free
        (("8000", "8000"), ("8000", "0"), "0", "100"),
        # C division truncates toward zero: -15000/10000 = -1 (not -2) -> 101;
        # pagetotal -1000050/100 = -10000 (not -10001); 255000/-10000 = -25 (not -26) -> 125
        (("1000000", "-15000"), ("-1000050", "255000"), "101", "125"),
        # only the leading digits count (strtoll)
        (("2000000kB", "500000 free"), ("4000000", "1000000"), "75", "75"),
    ],
)
def test_integer_arithmetic(
    phys: tuple[str, str], page: tuple[str, str], real: str, swap: str
) -> None:
    ctx, _ = aged_context()
    updates = run("la", cpu_report("nt01.example.com", phys, page), ctx)
    assert memory_files(updates) == {"memory.real.rrd": real, "memory.swap.rrd": swap}


def test_all_four_lines_are_needed() -> None:
    ctx, _ = aged_context()
    msg = cpu_report("nt01.example.com")
    short = msg._replace(body=msg.body.replace("Available PageFile size:", "Available PageFile:"))
    assert memory_files(run("la", short, ctx)) == {}


def test_mrbig_lowercase_lines_do_not_match() -> None:
    ctx, _ = aged_context()
    msg = cpu_report("mrbig.example.com")
    lower = msg._replace(body=msg.body.replace("Total Physical memory:", "Total physical memory:"))
    assert memory_files(run("la", lower, ctx)) == {}


@pytest.mark.parametrize(
    ("phys", "page"),
    [
        (("0", "0"), ("161222656", "99876864")),  # xymond logs and writes no memory
        (("66510848", "31428608"), ("0", "0")),
        # xymond divides by 99/100 == 0 and dies of SIGFPE; rrdd reports the message
        (("99", "10"), ("161222656", "99876864")),
    ],
)
def test_a_zero_total_is_a_parse_error_after_the_la_updates(
    phys: tuple[str, str], page: tuple[str, str]
) -> None:
    ctx, _ = aged_context()
    got: list[Update] = []
    with pytest.raises(ParseError):
        for update in HANDLERS["la"].parse(cpu_report("nt01.example.com", phys, page), ctx):
            got.append(update)
    assert [u.rrd for u in got] == ["la.rrd", "procs.rrd", "users.rrd"]


def test_an_overflowing_value_writes_no_memory() -> None:
    # xymond sees strtoll's LONG_MAX, logs the overflow and writes no memory.
    ctx, _ = aged_context()
    huge = "99999999999999999999"
    with pytest.raises(ParseError, match="overflows"):
        run("la", cpu_report("nt01.example.com", (huge, "31428608")), ctx)
