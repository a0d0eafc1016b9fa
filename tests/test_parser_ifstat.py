"""ifstat: what the golden cases cannot show.

The hosts.cfg INTERFACES: filter comes through the context, and xymond keeps no capture
longer than 99 characters.
"""

from __future__ import annotations

import re

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import load_builtins

HANDLERS = load_builtins()
TS = 1_736_240_400

NETTOOLS = """enp0s3: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        RX packets 10  bytes 1000 (1000.0 B)
        TX packets 20  bytes 2000 (2.0 KiB)
docker0: flags=4099<UP,BROADCAST,MULTICAST>  mtu 1500
        RX packets 0  bytes 0 (0.0 B)
        TX packets 0  bytes 0 (0.0 B)
"""


def ifstat(section: str, os: str = "linux", host: str = "web01.example.com") -> Message:
    body = f"data {host.replace('.', ',')}.ifstat\n{os}\n{section}"
    return Message("data", 1, TS, "127.0.0.1", host, "ifstat", "", "", "", "", body)


def run(
    handler: str, msg: Message, ctx: Context | None = None
) -> list[tuple[str, tuple[str, ...]]]:
    return [(u.rrd, u.values) for u in HANDLERS[handler].parse(msg, ctx or Context())]


def test_interfaces_filter_from_hosts_cfg() -> None:
    filters = {"web01.example.com": re.compile("^EN", re.IGNORECASE)}
    ctx = Context()
    setattr(ctx, "interfaces", filters.get)  # noqa: B010 - the host's INTERFACES: regex
    assert run("ifstat", ifstat(NETTOOLS), ctx) == [("ifstat.enp0s3.rrd", ("2000", "1000"))]
    other = ifstat(NETTOOLS, host="web02.example.com")  # no INTERFACES: every interface
    assert [rrd for rrd, _ in run("ifstat", other, ctx)] == [
        "ifstat.enp0s3.rrd",
        "ifstat.docker0.rrd",
    ]


def test_a_capture_over_99_characters_is_lost() -> None:
    long = "1" * 100
    rows = (
        f"em0 1500 192.0.2.0/24 192.0.2.20 {long} 5\n"
        f"em1 1500 192.0.2.0/24 192.0.2.21 {long[1:]} 6\n"
    )
    assert run("ifstat", ifstat(rows, "openbsd")) == [("ifstat.em1.rrd", ("6", long[1:]))]
    name = "e" * 100
    assert run("ifstat", ifstat(f"{name} 1 2\n", "bbwin")) == []
