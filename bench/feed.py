"""A fleet feed for the benchmarks: N hosts x C cycles of a Linux client's traffic.

Each host-cycle is the messages a Xymon server receives for one Linux client every five
minutes: cpu (with top output), disk (8 file systems), memory, and the data messages
vmstat, netstat and ifstat from xymond_client, plus network tests (conn, http with two
URLs, ssh, smtp, dns) from xymonnet. The bodies are the golden cases in tests/data with
the host name, sequence numbers and times replaced, so they are real client output.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests/data"
T0 = 1795312871
# (golden case, kind of message); one of each per host and cycle
MIX = (
    "la/linux",
    "disk/linux-dfPk",
    "memory/linux",
    "vmstat/linux-procps-ng",
    "netstat/linux-nettools2016",
    "ifstat/linux-nettools-2.10",
    "net/conn-xymonping-ms",
    "net/http-xymonnet",
    "net/ssh",
    "net/smtp",
    "net/dns",
)
HOST, CHOST = "\0host\0", "\0chost\0"  # where the host name goes


def templates() -> list[tuple[str, str]]:
    """(header after the timestamp, body) of the first message of each case in MIX."""
    out = []
    for case in MIX:
        text = (DATA / f"{case}.msg").read_text(encoding="utf-8", errors="surrogateescape")
        first = text.split("\n@@\n", 1)[0]
        header, _, body = first.partition("\n")
        host = header.split("/", 1)[1].split("|", 1)[0]
        kind = header[2:].split("#", 1)[0]
        rest = header.split("|", 2)[2].replace(host, HOST)
        body = body.replace(host, HOST).replace(host.replace(".", ","), CHOST)
        out.append((f"{kind}|{rest}", body))
    return out


def fleet_stream(hosts: int, cycles: int, t0: int = T0) -> bytes:
    """The stream; cycle c of host h is posted at t0 + 300 c + h % 200."""
    parts = []
    seq = 0
    tmpl = templates()
    for cycle in range(cycles):
        for h in range(hosts):
            host = f"host{h:05d}.example.com"
            chost = host.replace(".", ",")
            ts = t0 + 300 * cycle + h % 200
            for head, body in tmpl:
                seq += 1
                kind, rest = head.split("|", 1)
                header = f"@@{kind}#{seq}/{host}|{ts}.{seq % 1000000:06d}|{rest}"
                text = body.replace(HOST, host).replace(CHOST, chost)
                parts.append(header.replace(HOST, host) + "\n" + text + "\n@@\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


def messages_per_host_cycle() -> int:
    return len(MIX)
