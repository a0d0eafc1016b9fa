"""The perf note's limit L for parse-only throughput (T1), rebuilt to run beside rrdd.

The perf note measured a "careful pure-Python parser" on its 15-message host mix at 182k
msg/s, and set rrdd's target at 0.8 of it (150k msg/s on that machine). Its scripts are
not part of this repository, so this module rebuilds that parser from the note's
description (its sections 2 and 3), to measure L on the machine and in the run where
rrdd is measured:

- framing: split the stream at the terminator, decode, split the header at "|";
- each message scanned once, with the note's fastest variant for its kind: module-level
  regexes with `finditer`/`findall` over the body, `split()` for df rows, one alternation
  regex anchored at line start for `netstat -s`, `partition(":")` and `float()` for NCV;
- the result of each message is a list of (file, values) tuples.

It reads only the layouts of feed.py's reference mix (Linux client output, xymonnet
statuses) and none of xymond's rules for other systems, bad input, file naming or
legacy layouts, which rrdd must follow: it is a floor to compare with, not a parser.
"""

from __future__ import annotations

import re

TERMINATOR = b"\n@@\n"

LOAD = re.compile(r"up: (?:(\d+) days?, )?.*?(\d+) users?, (\d+) procs?, load=([0-9.]+)")
VMSTAT_FIELDS = 17
NETSTAT = re.compile(
    r"^ *(\d+) (total packets received|forwarded|incoming packets discarded|"
    r"incoming packets delivered|requests sent out|active connection openings|"
    r"passive connection openings|failed connection attempts|connection resets received|"
    r"connections established|segments received|segments sent out|segments retransmitted|"
    r"bad segments received|resets sent|packets received|packets to unknown port received|"
    r"packet receive errors|packets sent|receive buffer errors)$",
    re.M,
)
MEMORY = re.compile(r"^&\w+ (Real|Actual|Swap)/\w+ +\d+M +\d+M +(\d+)%", re.M)
SECONDS = re.compile(r"^Seconds: ([0-9.]+)", re.M)
URL_TIME = re.compile(r"^&\w+ (http\S*).*?^Seconds: ([0-9.]+)", re.M | re.S)
NTP = re.compile(r"offset ([-+0-9.]+) \+/- ([0-9.]+)")


def cpu(body: str) -> list[tuple[str, tuple[str, ...]]]:
    m = LOAD.search(body)
    if m is None:
        return []
    days, users, procs, load = m.groups()
    return [
        ("la.rrd", (str(int(float(load) * 100)),)),
        ("uptime.rrd", (str(int(days or 0) * 86400),)),
        ("users.rrd", (users,)),
        ("procs.rrd", (procs,)),
    ]


def disk(body: str) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for line in body.split("\n"):
        cols = line.split()
        if len(cols) == 6 and cols[5].startswith("/") and cols[4].endswith("%"):
            out.append((f"disk{cols[5].replace('/', ',')}.rrd", (cols[4][:-1], cols[2])))
    return out


def vmstat(body: str) -> list[tuple[str, tuple[str, ...]]]:
    last = body.rstrip("\n").rsplit("\n", 1)[-1].split()
    return [("vmstat.rrd", tuple(last[:VMSTAT_FIELDS]))] if len(last) >= VMSTAT_FIELDS else []


def netstat(body: str) -> list[tuple[str, tuple[str, ...]]]:
    return [("netstat.rrd", tuple(m.group(1) for m in NETSTAT.finditer(body)))]


def memory(body: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(f"memory.{kind.lower()}.rrd", (pct,)) for kind, pct in MEMORY.findall(body)]


def ncv(body: str, test: str) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for line in body.split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            try:
                float(value)
            except ValueError:
                continue
            out.append((f"{test},{name.strip()}.rrd", (value.strip(),)))
    return out


def tcp(body: str, test: str) -> list[tuple[str, tuple[str, ...]]]:
    if test == "http":
        return [(f"tcp.http.{url}.rrd", (sec,)) for url, sec in URL_TIME.findall(body)]
    out = []
    if test == "ntp":
        m = NTP.search(body)
        if m:
            out.append(("ntp.rrd", m.groups()))
    if test == "conn":
        at = body.find("alive (")
        return [("tcp.conn.rrd", (body[at + 7 :].split(" ", 1)[0],))] if at >= 0 else []
    m = SECONDS.search(body)
    if m:
        out.append((f"tcp.{test}.rrd", (m.group(1),)))
    return out


STATUS_PARSERS = {"cpu": cpu, "disk": disk, "vmstat": vmstat, "netstat": netstat, "memory": memory}
TCP_TESTS = ("conn", "http", "ssh", "smtp", "dns", "ntp", "ldap", "imap", "pop3")


def reference_pass(data: bytes) -> int:
    """Parse a stream of the reference mix; return the number of messages."""
    n = 0
    updates: list[tuple[str, str, int, tuple[str, tuple[str, ...]]]] = []
    for block in data.split(TERMINATOR):
        if not block:
            continue
        header, _, body = block.decode("utf-8", "surrogateescape").partition("\n")
        fields = header.split("|")
        host, test, ts = fields[4], fields[5], int(fields[1].partition(".")[0])
        parser = STATUS_PARSERS.get(test)
        if parser is not None:
            found = parser(body)
        elif test in TCP_TESTS:
            found = tcp(body, test)
        else:
            found = ncv(body, test)
        updates.extend((host, test, ts, update) for update in found)
        n += 1
    return n
