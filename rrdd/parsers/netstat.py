"""netstat: TCP and UDP counters from ``netstat -s``.

Handles: netstat

Sample body (xymond_client forwards the client's ``[netstat]`` section; Linux)::

    data web01,example,com.netstat
    linux
    Ip:
        Forwarding: 1
        81234567 total packets received
    Tcp:
        456789 active connection openings
        123456 passive connection openings
        2345 failed connection attempts
        3456 connection resets received
        42 connections established
        11223344 segments received
        12334455 segments sent out
        23456 segments retransmitted
    Udp:
        567890 packets received
        0 packet receive errors
        571234 packets sent

The line after the ``data``/``status`` line names the OS and decides how it is read:

* solaris: ``name = value`` pairs (``tcpActiveOpens = 123``).
* win32, bbwin, powershell: ``name=value`` pairs (``tcpActiveOpens=123``).
* linux, linux22, rhel3, zvm, zvse, zos: ``value text`` lines from the first ``Tcp:``
  line on; net-tools 2016 and later (``segments sent out``) or the older wording.
* snmp, netware_snmp: ``value text`` lines of UCD-SNMP ``snmpnetstat -s``.
* aix, hpux, osf, irix, sco_sv, freebsd, netbsd, openbsd, darwin: BSD-style lines in the
  ``tcp:`` and ``udp:`` sections, read with each OS's patterns; the UDP error counters are
  summed, failed attempts, resets and current connections are unknown. When these lines
  give nothing, the BSDs fall back to ``value text`` lines and aix and hpux to the
  ``name = value`` pairs of the old LARRD bf-netstat (a status message).

Each counter comes from the first line that names it; a missing one is U. A report with
no counter writes nothing; so does an OS such as hmdc; an unknown OS is an error.

Writes:
    netstat.rrd   udpInDatagrams udpOutDatagrams udpInErrors tcpActiveOpens tcpPassiveOpens
                  tcpAttemptFails tcpEstabResets (DERIVE) tcpCurrEstab (GAUGE)
                  tcpOutDataBytes tcpInInorderBytes tcpInUnorderBytes tcpRetransBytes
                  tcpOutDataPackets tcpInInorderPackets tcpInUnorderPackets
                  tcpRetransPackets (DERIVE)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers import register
from rrdd.parsers._common import os_line
from rrdd.schema import Schema, Update

SCHEMA = Schema.of(
    "DS:udpInDatagrams:DERIVE:600:0:U",
    "DS:udpOutDatagrams:DERIVE:600:0:U",
    "DS:udpInErrors:DERIVE:600:0:U",
    "DS:tcpActiveOpens:DERIVE:600:0:U",
    "DS:tcpPassiveOpens:DERIVE:600:0:U",
    "DS:tcpAttemptFails:DERIVE:600:0:U",
    "DS:tcpEstabResets:DERIVE:600:0:U",
    "DS:tcpCurrEstab:GAUGE:600:0:U",
    "DS:tcpOutDataBytes:DERIVE:600:0:U",
    "DS:tcpInInorderBytes:DERIVE:600:0:U",
    "DS:tcpInUnorderBytes:DERIVE:600:0:U",
    "DS:tcpRetransBytes:DERIVE:600:0:U",
    "DS:tcpOutDataPackets:DERIVE:600:0:U",
    "DS:tcpInInorderPackets:DERIVE:600:0:U",
    "DS:tcpInUnorderPackets:DERIVE:600:0:U",
    "DS:tcpRetransPackets:DERIVE:600:0:U",
)

# Marker tables: one entry per DS, in SCHEMA order; "" = never read.
UNIX = (
    "udpInDatagrams", "udpOutDatagrams", "udpInErrors", "tcpActiveOpens",
    "tcpPassiveOpens", "tcpAttemptFails", "tcpEstabResets", "tcpCurrEstab",
    "tcpOutDataBytes", "tcpInInorderBytes", "tcpInUnorderBytes", "tcpRetransBytes",
    "tcpOutDataSegs", "tcpInInorderSegs", "tcpInUnorderSegs", "tcpRetransSegs",
)  # fmt: skip
WIN32 = (
    "udpDatagramsReceived", "udpDatagramsSent",
    "udpReceiveErrors", "tcpActiveOpens",
    "tcpPassiveOpens", "tcpFailedConnectionAttempts",
    "tcpResetConnections", "tcpCurrentConnections",
    "", "",
    "", "",
    "tcpSegmentsSent", "tcpSegmentsReceived",
    "", "tcpSegmentsRetransmitted",
)  # fmt: skip
BSD = (
    "datagrams received", "datagrams output", "", "connection requests",
    "connection accepts", "bad connection attempts", "", "connections established",
    "", "", "", "",
    "packets sent", "received in-sequence", "out-of-order packets", "",
)  # fmt: skip
LINUX = (
    "packets received", "packets sent",
    "packet receive errors", "active connection openings",
    "passive connection openings", "failed connection attempts",
    "connection resets received", "connections established",
    "", "",
    "", "",
    "segments sent out", "segments received",
    "", "segments retransmitted",
)  # fmt: skip
LINUX_LEGACY = (  # net-tools before 2016, typos included
    "packets received", "packets sent",
    "packet receive errors", "active connections openings",
    "passive connection openings", "failed connection attempts",
    "connection resets received", "connections established",
    "", "",
    "", "",
    "segments send out", "segments received",
    "", "segments retransmited",
)  # fmt: skip
SNMP = (
    "total datagrams received", "output datagram requests",
    "datagrams dropped due to errors", "active opens",
    "passive opens", "failed attempts",
    "resets of established connections", "current established connections",
    "", "",
    "", "",
    "segments sent", "segments received",
    "", "segments retransmitted",
)  # fmt: skip

AFTER_EQUAL = re.compile(r"[ \t]*=[ \t]*([0-9]*)")
LEADING_DIGITS = re.compile(r"[ \t]*([0-9]*)")

Values = list[str] | None  # one string per DS, or None: nothing found


def _after_equal(markers: tuple[str, ...], body: str, start: int) -> Values:
    """The digits after ``=`` following the first occurrence of each marker."""
    values, found = [], False
    for marker in markers:
        pos = body.find(marker, start) if marker else -1
        m = AFTER_EQUAL.match(body, pos + len(marker)) if pos >= 0 else None
        found = found or m is not None
        # xymond sends an empty field when no digits follow ("= -1"), which makes rrdtool
        # reject the whole update (GAUGE) or store a bogus rate (DERIVE); rrdd writes U.
        values.append((m.group(1) or "U") if m else "U")
    return values if found else None


Wanted = tuple[tuple[int, str], ...]  # (DS index, marker) of each marker that is read


def _wanted(markers: tuple[str, ...]) -> Wanted:
    """A marker table without its "" entries, so that the loops skip them for free."""
    return tuple((i, marker) for i, marker in enumerate(markers) if marker)


def _before_marker(markers: Wanted, body: str, start: int) -> Values:
    """The digits that start the line of the first occurrence of each marker."""
    values, found = ["U"] * len(SCHEMA.names), False
    plain = body.isascii()  # then isdigit() means [0-9]
    for i, marker in markers:
        pos = body.find(marker, start)
        if pos < 0:
            continue
        found = True
        nl = body.rfind("\n", start, pos)
        line = nl + 1 if nl >= 0 else start
        # Usually only blanks and the number stand before the marker ("    42 connections
        # established"); then they are the number, without the regex. No marker starts
        # with a digit, so the number cannot run on into it.
        number = body[line:pos].strip(" \t")
        if not (plain and number.isdigit()):
            m = LEADING_DIGITS.match(body, line)
            number = m.group(1) if m else ""
        values[i] = number or "U"  # an empty field in xymond, as above
    return values if found else None


_LINUX, _LINUX_LEGACY = _wanted(LINUX), _wanted(LINUX_LEGACY)


def _linux(body: str, start: int) -> Values:
    # xymond looks for "\nTcp:" from the first report line on, so a report that starts
    # with "Tcp:" is not read; the UDP counters follow in the "Udp:" section.
    tcp = body.find("\nTcp:", start)
    if tcp < 0:
        return None
    markers = _LINUX if body.find("segments sent out", tcp) >= 0 else _LINUX_LEGACY
    return _before_marker(markers, body, tcp)


# The BSD-style patterns: [0..5] are read in "tcp:" sections and [6..10] in "udp:"
# sections; each is the text after the leading number, and the variables its numbers fill
# (udpErr* are summed into udpInErrors). None never matches.
Pattern = tuple[str, tuple[str, ...]]
RETRANS = (
    r"data packets \(([0-9]+) bytes\) retransmitted",
    ("tcpRetransPackets", "tcpRetransBytes"),
)
OUTDATA = (r"data packets \(([0-9]+) bytes\)", ("tcpOutDataPackets", "tcpOutDataBytes"))
INORDER = (
    r"packets \(([0-9]+) bytes\) received in-sequence",
    ("tcpInInorderPackets", "tcpInInorderBytes"),
)
UNORDER = (r"out-of-order packets \(([0-9]+) bytes\)", ("tcpInUnorderPackets", "tcpInUnorderBytes"))
CONNECTS = (
    ("connection requests", ("tcpActiveOpens",)),
    ("connection accepts", ("tcpPassiveOpens",)),
)
TCP: tuple[Pattern, ...] = (RETRANS, OUTDATA, INORDER, UNORDER, *CONNECTS)
UDP_ERRORS = ("udpErr1", "udpErr2", "udpErr3")


def _udp(*texts: str | None) -> tuple[Pattern | None, ...]:
    names = ("udpInDatagrams", "udpOutDatagrams", *UDP_ERRORS)
    return tuple(None if t is None else (t, (n,)) for t, n in zip(texts, names, strict=True))


OSF = TCP + _udp(
    "packets received", "packets sent", "incomplete headers", "bad data length fields",
    "bad checksums",
)  # fmt: skip
AIX = TCP + _udp(
    "datagrams received", "datagrams output", "incomplete headers", "bad data length fields",
    "bad checksums",
)  # fmt: skip
IRIX = TCP + _udp(
    "total datagrams received", "datagrams output", "incomplete header",
    "bad data length field", "bad checksum",
)  # fmt: skip
HPUX = (
    RETRANS,
    OUTDATA,
    INORDER,
    (r"out of order packets \(([0-9]+) bytes\)", UNORDER[1]),
    *CONNECTS,
    *_udp(
        "datagrams received", "datagrams output", "incomplete headers", "bad data length fields",
        "bad checksums",
    ),
)  # fmt: skip
BSD_PATTERNS = TCP + _udp(
    "datagrams received", "datagrams output", "with incomplete header",
    "with bad data length field", "with bad checksum",
)  # fmt: skip
# xymond's SCO list swaps [0] and [1], shifts the UDP texts, loses [8] to a missing comma
# (two patterns joined into one that never matches) and reads [10] past the end of the
# list; rrdd takes [10] as no match.
SCO_SV = (
    (OUTDATA[0], RETRANS[1]),
    (RETRANS[0], OUTDATA[1]),
    INORDER,
    UNORDER,
    *CONNECTS,
    *_udp("incomplete headers", "bad data length fields", None, "packets sent", None),
)


@dataclass(frozen=True, slots=True)
class _PatternSet:
    """One OS's patterns as one regex: "\\n", then a tcp:/udp: header or a pattern line."""

    regex: re.Pattern[str]
    tcp: int  # group number of the "tcp:" header
    udp: int
    by_group: dict[int, tuple[bool, tuple[str, ...]]]  # group -> (TCP pattern?, variables)

    @classmethod
    def of(cls, patterns: tuple[Pattern | None, ...]) -> _PatternSet:
        texts = "|".join(f"(?P<p{i}>{p[0]})" for i, p in enumerate(patterns) if p is not None)
        # "\n" rather than "^" lets the regex engine jump from line to line, and the leading
        # number is matched once for all the patterns.
        regex = re.compile(
            rf"\n(?:(?P<tcp>tcp:)|(?P<udp>udp:)|[\t ]*(?P<n>[0-9]+) (?:{texts})$)",
            re.IGNORECASE | re.MULTILINE | re.ASCII,
        )
        by_group = {
            regex.groupindex[f"p{i}"]: (i < 6, p[1])
            for i, p in enumerate(patterns)
            if p is not None
        }
        return cls(regex, regex.groupindex["tcp"], regex.groupindex["udp"], by_group)


def _patterns(pset: _PatternSet, body: str, start: int) -> Values:
    """xymond's handle_pcre_netstat(): the first match of each variable wins."""
    section: bool | None = None  # True in a tcp: section, False in udp:
    found: dict[str, str] = {}
    hits = 0
    # Other headers (ip:, icmp:) do not end a section. start - 1 is the "\n" before the report.
    for m in pset.regex.finditer(body, start - 1):
        group = m.lastindex or 0
        if group == pset.tcp or group == pset.udp:
            section = group == pset.tcp
            continue
        is_tcp, variables = pset.by_group[group]
        if section is not is_tcp:
            continue
        hits += 1
        found.setdefault(variables[0], m.group("n"))
        if len(variables) > 1:  # the pattern's own group: a byte count
            found.setdefault(variables[1], m.group(group + 1))
        if hits == 11:  # xymond stops reading here, even if some variables are still unset
            break
    if not hits:
        return None
    # atol() of each, summed as an unsigned long and printed with %ld
    total = sum(strtoll(found[e]) for e in UDP_ERRORS if e in found) % 2**64
    found["udpInErrors"] = str(total - 2**64 if total >= 2**63 else total)
    return [found.get(ds, "U") for ds in SCHEMA.names]


Method = Callable[[str, int], Values]
_unix: Method = partial(_after_equal, UNIX)
_bsd: Method = partial(_before_marker, _wanted(BSD))
# OS -> the methods tried in order; the first that finds a counter wins.
METHODS: dict[str, tuple[Method, ...]] = {
    "solaris": (_unix,),
    "osf": (partial(_patterns, _PatternSet.of(OSF)),),
    "aix": (partial(_patterns, _PatternSet.of(AIX)), _unix),
    "hpux": (partial(_patterns, _PatternSet.of(HPUX)), _unix),
    "irix": (partial(_patterns, _PatternSet.of(IRIX)),),
    **dict.fromkeys(
        ("freebsd", "netbsd", "openbsd", "darwin"),
        (partial(_patterns, _PatternSet.of(BSD_PATTERNS)), _bsd),
    ),
    **dict.fromkeys(("linux", "linux22", "rhel3", "zvm", "zvse", "zos"), (_linux,)),
    **dict.fromkeys(("snmp", "netware_snmp"), (partial(_before_marker, _wanted(SNMP)),)),
    **dict.fromkeys(("win32", "bbwin", "powershell"), (partial(_after_equal, WIN32),)),
    "sco_sv": (partial(_patterns, _PatternSet.of(SCO_SV)),),
}


@register("netstat", files=("netstat.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    os, osname, report = os_line(body, "netstat")
    if os == "unknown":
        raise ParseError(f"netstat report for an unknown OS {osname[:40]!r}")
    for method in METHODS.get(os, ()):
        values = method(body, report)
        if values is not None:
            yield Update("netstat.rrd", SCHEMA, tuple(values))
            return
