"""Feeds for the benchmarks: N hosts x C cycles of one host mix.

The fleet mix (`MIX`, the default) is what a Xymon server receives for one Linux client
every five minutes: cpu (with top output), disk (8 file systems), memory, and the data
messages vmstat, netstat and ifstat from xymond_client, plus network tests (conn, http
with two URLs, ssh, smtp, dns) from xymonnet.

The reference mix (`REFERENCE_MIX`) is the perf note's 15 messages per host, the mix its
parse target (T1) is defined on: cpu, disk (8 file systems), vmstat, netstat, memory, a
SPLITNCV report of 16 values and nine network tests (conn, http, ssh, smtp, dns, ntp,
ldap, imap, pop3). It has no ifstat, and more of the small network tests.

The bodies are the golden cases in tests/data with the host name, sequence numbers and
times replaced, so they are real client output; a case named "case:test" is that case
with its test name changed (imap and pop3 from the smtp case). The NCV report is written
here: no golden case has 16 lines.
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
REFERENCE_MIX = (
    "la/linux",
    "disk/linux-dfPk",
    "vmstat/linux-procps-ng",
    "netstat/linux-nettools2016",
    "memory/linux",
    "appstats",  # NCV_REPORT
    "net/conn-xymonping-ms",
    "net/http-xymonnet",
    "net/ssh",
    "net/smtp",
    "net/dns",
    "net/ntp-sntp-probe",
    "net/ldap",
    "net/smtp:imap",
    "net/smtp:pop3",
)
# The settings the reference mix needs: the NCV report is split one file per value, and
# ldap is a service (as the stock protocols.cfg makes it).
REFERENCE_ENV = {
    "TEST2RRD": "cpu=la,disk,memory,conn=tcp,http=tcp,dns=tcp,ntp=tcp,vmstat,netstat,appstats=ncv",
    "SPLITNCV_appstats": "*:GAUGE",
    "XYMONNETSVCS": "ssh smtp ldap imap pop3",
}
NCV_NAMES = (
    "sessions", "requests", "errors", "queue", "threads", "heap_mb", "gc_ms", "cache_hits",
    "cache_miss", "db_conns", "db_wait_ms", "uptime", "bytes_in", "bytes_out", "p95_ms",
    "p99_ms",
)  # fmt: skip
NCV_REPORT = (
    "@@data#1/web01.example.com|1795312871.123456|192.0.2.10||web01.example.com|appstats|"
    "linux|servers\n"
    "data web01,example,com.appstats\n"
    + "".join(f"{name} : {n * 37.5 + 3:g}\n" for n, name in enumerate(NCV_NAMES))
)
HOST, CHOST = "\0host\0", "\0chost\0"  # where the host name goes


def templates(mix: tuple[str, ...] = MIX) -> list[tuple[str, str]]:
    """(header after the timestamp, body) of the first message of each case in `mix`."""
    out = []
    for entry in mix:
        case, _, test = entry.partition(":")
        if case == "appstats":
            text = NCV_REPORT
        else:
            text = (DATA / f"{case}.msg").read_text(encoding="utf-8", errors="surrogateescape")
        first = text.split("\n@@\n", 1)[0]
        header, _, body = first.partition("\n")
        host = header.split("/", 1)[1].split("|", 1)[0]
        kind = header[2:].split("#", 1)[0]
        rest = header.split("|", 2)[2].replace(host, HOST)
        body = body.replace(host, HOST).replace(host.replace(".", ","), CHOST)
        if test:  # the same service under another name
            old = rest.split("|")[3]
            rest = rest.replace(f"|{old}|", f"|{test}|", 1)
            body = body.replace(old, test)
        out.append((f"{kind}|{rest}", body))
    return out


def fleet_stream(hosts: int, cycles: int, t0: int = T0, mix: tuple[str, ...] = MIX) -> bytes:
    """The stream; cycle c of host h is posted at t0 + 300 c + h % 200."""
    parts = []
    seq = 0
    tmpl = templates(mix)
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
