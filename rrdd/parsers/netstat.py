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
from collections.abc import Callable, Iterable, Iterator
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

# The marker tables: DS -> the text that names its counter; a DS a table leaves out is U.
# Solaris names its counters as the DS are named, but for segments where the DS says packets.
UNIX = {
    **{ds: ds for ds in SCHEMA.names},
    "tcpOutDataPackets": "tcpOutDataSegs",
    "tcpInInorderPackets": "tcpInInorderSegs",
    "tcpInUnorderPackets": "tcpInUnorderSegs",
    "tcpRetransPackets": "tcpRetransSegs",
}
WIN32 = {
    "udpInDatagrams": "udpDatagramsReceived",
    "udpOutDatagrams": "udpDatagramsSent",
    "udpInErrors": "udpReceiveErrors",
    "tcpActiveOpens": "tcpActiveOpens",
    "tcpPassiveOpens": "tcpPassiveOpens",
    "tcpAttemptFails": "tcpFailedConnectionAttempts",
    "tcpEstabResets": "tcpResetConnections",
    "tcpCurrEstab": "tcpCurrentConnections",
    "tcpOutDataPackets": "tcpSegmentsSent",
    "tcpInInorderPackets": "tcpSegmentsReceived",
    "tcpRetransPackets": "tcpSegmentsRetransmitted",
}
BSD = {
    "udpInDatagrams": "datagrams received",
    "udpOutDatagrams": "datagrams output",
    "tcpActiveOpens": "connection requests",
    "tcpPassiveOpens": "connection accepts",
    "tcpAttemptFails": "bad connection attempts",
    "tcpCurrEstab": "connections established",
    "tcpOutDataPackets": "packets sent",
    "tcpInInorderPackets": "received in-sequence",
    "tcpInUnorderPackets": "out-of-order packets",
}
LINUX = {
    "udpInDatagrams": "packets received",
    "udpOutDatagrams": "packets sent",
    "udpInErrors": "packet receive errors",
    "tcpActiveOpens": "active connection openings",
    "tcpPassiveOpens": "passive connection openings",
    "tcpAttemptFails": "failed connection attempts",
    "tcpEstabResets": "connection resets received",
    "tcpCurrEstab": "connections established",
    "tcpOutDataPackets": "segments sent out",
    "tcpInInorderPackets": "segments received",
    "tcpRetransPackets": "segments retransmitted",
}
LINUX_LEGACY = {  # net-tools before 2016, typos included
    **LINUX,
    "tcpActiveOpens": "active connections openings",
    "tcpOutDataPackets": "segments send out",
    "tcpRetransPackets": "segments retransmited",
}
SNMP = {
    "udpInDatagrams": "total datagrams received",
    "udpOutDatagrams": "output datagram requests",
    "udpInErrors": "datagrams dropped due to errors",
    "tcpActiveOpens": "active opens",
    "tcpPassiveOpens": "passive opens",
    "tcpAttemptFails": "failed attempts",
    "tcpEstabResets": "resets of established connections",
    "tcpCurrEstab": "current established connections",
    "tcpOutDataPackets": "segments sent",
    "tcpInInorderPackets": "segments received",
    "tcpRetransPackets": "segments retransmitted",
}

# The regex method's tables, one for the "tcp:" sections and one for "udp:": DS -> the
# text after a line's leading number, in xymond's order (the first pattern that fits a
# line takes it). A pattern with a group of its own reads a packet count and, in the
# group, the byte count that BYTES pairs with it. A DS given several patterns (None never
# matches) is the sum of their first matches, "0" when none matched.
RETRANS = r"data packets \(([0-9]+) bytes\) retransmitted"
OUTDATA = r"data packets \(([0-9]+) bytes\)"
TCP = {
    "tcpRetransPackets": RETRANS,
    "tcpOutDataPackets": OUTDATA,
    "tcpInInorderPackets": r"packets \(([0-9]+) bytes\) received in-sequence",
    "tcpInUnorderPackets": r"out-of-order packets \(([0-9]+) bytes\)",
    "tcpActiveOpens": "connection requests",
    "tcpPassiveOpens": "connection accepts",
}
BYTES = {
    "tcpRetransPackets": "tcpRetransBytes",
    "tcpOutDataPackets": "tcpOutDataBytes",
    "tcpInInorderPackets": "tcpInInorderBytes",
    "tcpInUnorderPackets": "tcpInUnorderBytes",
}
UDP = ("udpInDatagrams", "udpOutDatagrams", "udpInErrors")  # what every UDP table fills
UdpTable = dict[str, str | tuple[str | None, ...]]
OSF_UDP: UdpTable = {
    "udpInDatagrams": "packets received",
    "udpOutDatagrams": "packets sent",
    "udpInErrors": ("incomplete headers", "bad data length fields", "bad checksums"),
}
AIX_UDP: UdpTable = {
    "udpInDatagrams": "datagrams received",
    "udpOutDatagrams": "datagrams output",
    "udpInErrors": ("incomplete headers", "bad data length fields", "bad checksums"),
}
IRIX_UDP: UdpTable = {
    "udpInDatagrams": "total datagrams received",
    "udpOutDatagrams": "datagrams output",
    "udpInErrors": ("incomplete header", "bad data length field", "bad checksum"),
}
BSD_UDP: UdpTable = {
    "udpInDatagrams": "datagrams received",
    "udpOutDatagrams": "datagrams output",
    "udpInErrors": ("with incomplete header", "with bad data length field", "with bad checksum"),
}
HPUX_UDP = AIX_UDP
HPUX_TCP = {**TCP, "tcpInUnorderPackets": r"out of order packets \(([0-9]+) bytes\)"}
# xymond's SCO list swaps the retransmitted and the data packets patterns, shifts the UDP
# texts by two, loses the first error pattern to a missing comma (two patterns joined into
# one that never matches) and reads the third past the end of the list; rrdd takes that
# one as no match.
SCO_TCP = {**TCP, "tcpRetransPackets": OUTDATA, "tcpOutDataPackets": RETRANS}
SCO_UDP: UdpTable = {
    "udpInDatagrams": "incomplete headers",
    "udpOutDatagrams": "bad data length fields",
    "udpInErrors": (None, "packets sent", None),
}


def check_table(table: Iterable[str], exactly: Iterable[str] | None = None) -> None:
    """Raise ValueError when a table names a DS that SCHEMA lacks or, given `exactly`,
    does not name exactly those DS: a misspelt name would lose its counter unseen."""
    names = set(table)
    unknown = names.difference(SCHEMA.names)
    if unknown:
        raise ValueError(f"netstat table names {sorted(unknown)}, not DS of netstat.rrd")
    if exactly is not None and names != set(exactly):
        raise ValueError(f"netstat table names {sorted(names)} instead of {sorted(exactly)}")


check_table(BYTES)
check_table(BYTES.values())

AFTER_EQUAL = re.compile(r"[ \t]*=[ \t]*([0-9]*)")
LEADING_DIGITS = re.compile(r"[ \t]*([0-9]*)")

Values = list[str] | None  # one string per DS in SCHEMA order, or None: nothing found
Markers = tuple[tuple[int, str], ...]  # (DS index in SCHEMA, marker) of each DS read


def _markers(table: dict[str, str]) -> Markers:
    check_table(table)
    return tuple((SCHEMA.names.index(ds), marker) for ds, marker in table.items())


def _after_equal(markers: Markers, body: str, start: int) -> Values:
    """The digits after ``=`` following the first occurrence of each marker."""
    values, found = ["U"] * len(SCHEMA.names), False
    for i, marker in markers:
        pos = body.find(marker, start)
        m = AFTER_EQUAL.match(body, pos + len(marker)) if pos >= 0 else None
        if m is not None:
            found = True
            # xymond sends an empty field when no digits follow ("= -1"), which makes
            # rrdtool reject the whole update (GAUGE) or store a bogus rate (DERIVE);
            # rrdd writes U.
            values[i] = m.group(1) or "U"
    return values if found else None


def _before_marker(markers: Markers, body: str, start: int) -> Values:
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


_LINUX, _LINUX_LEGACY = _markers(LINUX), _markers(LINUX_LEGACY)


def _linux(body: str, start: int) -> Values:
    # xymond looks for "\nTcp:" from the first report line on, so a report that starts
    # with "Tcp:" is not read; the UDP counters follow in the "Udp:" section.
    tcp = body.find("\nTcp:", start)
    if tcp < 0:
        return None
    markers = _LINUX if body.find("segments sent out", tcp) >= 0 else _LINUX_LEGACY
    return _before_marker(markers, body, tcp)


@dataclass(frozen=True, slots=True)
class _PatternSet:
    """One OS's patterns as one regex: "\\n", then a tcp:/udp: header or a pattern line."""

    regex: re.Pattern[str]
    tcp: int  # group number of the "tcp:" header
    udp: int
    # a pattern's group -> (read in tcp: sections?, its DS, the DS of its byte count)
    by_group: dict[int, tuple[bool, str, str | None]]
    sums: dict[str, tuple[int, ...]]  # a DS given several patterns -> their groups
    patterns: int  # how many the lists have, None included: xymond's stop count

    @classmethod
    def of(cls, tcp: dict[str, str], udp: UdpTable) -> _PatternSet:
        check_table(tcp, exactly=TCP)
        check_table(udp, exactly=UDP)
        # (read in tcp: sections?, DS, pattern, one of several summed?), in xymond's order
        slots: list[tuple[bool, str, str | None, bool]] = [
            (True, ds, text, False) for ds, text in tcp.items()
        ]
        for ds, texts in udp.items():
            if isinstance(texts, str):
                slots.append((False, ds, texts, False))
            else:
                slots += [(False, ds, text, True) for text in texts]
        alternatives = "|".join(f"(?P<p{i}>{slot[2]})" for i, slot in enumerate(slots) if slot[2])
        # "\n" rather than "^" lets the regex engine jump from line to line, and the leading
        # number is matched once for all the patterns.
        regex = re.compile(
            rf"\n(?:(?P<tcp>tcp:)|(?P<udp>udp:)|[\t ]*(?P<n>[0-9]+) (?:{alternatives})$)",
            re.IGNORECASE | re.MULTILINE | re.ASCII,
        )
        groups = [regex.groupindex[f"p{i}"] for i, slot in enumerate(slots) if slot[2]]
        # A pattern's own groups are numbered after its group, up to the next pattern's.
        own = {
            g: end - g - 1 for g, end in zip(groups, [*groups[1:], regex.groups + 1], strict=True)
        }
        by_group: dict[int, tuple[bool, str, str | None]] = {}
        sums: dict[str, tuple[int, ...]] = {}
        for i, (in_tcp, ds, text, several) in enumerate(slots):
            if text is None:
                continue
            group = regex.groupindex[f"p{i}"]
            if own[group] != (ds in BYTES):
                raise ValueError(
                    f"netstat pattern {text!r} for {ds}: a byte count group needs a BYTES entry"
                    " and a BYTES entry needs the group"
                )
            by_group[group] = (in_tcp, ds, BYTES.get(ds))
            if several:
                sums[ds] = (*sums.get(ds, ()), group)
        return cls(
            regex, regex.groupindex["tcp"], regex.groupindex["udp"], by_group, sums, len(slots)
        )


def _patterns(pset: _PatternSet, body: str, start: int) -> Values:
    """xymond's handle_pcre_netstat(): the first match of each pattern wins."""
    section: bool | None = None  # True in a tcp: section, False in udp:
    found: dict[str, str] = {}  # DS -> the first match of its one pattern
    parts: dict[int, str] = {}  # the group of one of several summed patterns -> its first match
    hits = 0
    # Other headers (ip:, icmp:) do not end a section. start - 1 is the "\n" before the report.
    for m in pset.regex.finditer(body, start - 1):
        group = m.lastindex or 0
        if group == pset.tcp or group == pset.udp:
            section = group == pset.tcp
            continue
        in_tcp, ds, byte_ds = pset.by_group[group]
        if section is not in_tcp:
            continue
        hits += 1
        if ds in pset.sums:
            parts.setdefault(group, m.group("n"))
        else:
            found.setdefault(ds, m.group("n"))
            if byte_ds is not None:
                found.setdefault(byte_ds, m.group(group + 1))
        # xymond stops after as many matches as its lists have patterns, even if some DS
        # are still unset
        if hits == pset.patterns:
            break
    if not hits:
        return None
    for ds, groups in pset.sums.items():
        # atol() of each, summed as an unsigned long and printed with %ld
        total = sum(strtoll(parts[g]) for g in groups if g in parts) % 2**64
        found[ds] = str(total - 2**64 if total >= 2**63 else total)
    return [found.get(ds, "U") for ds in SCHEMA.names]


Method = Callable[[str, int], Values]
_unix: Method = partial(_after_equal, _markers(UNIX))
_bsd: Method = partial(_before_marker, _markers(BSD))


def _regex(tcp: dict[str, str], udp: UdpTable) -> Method:
    return partial(_patterns, _PatternSet.of(tcp, udp))


# OS -> the methods tried in order; the first that finds a counter wins.
METHODS: dict[str, tuple[Method, ...]] = {
    "solaris": (_unix,),
    "osf": (_regex(TCP, OSF_UDP),),
    "aix": (_regex(TCP, AIX_UDP), _unix),
    "hpux": (_regex(HPUX_TCP, HPUX_UDP), _unix),
    "irix": (_regex(TCP, IRIX_UDP),),
    **dict.fromkeys(("freebsd", "netbsd", "openbsd", "darwin"), (_regex(TCP, BSD_UDP), _bsd)),
    **dict.fromkeys(("linux", "linux22", "rhel3", "zvm", "zvse", "zos"), (_linux,)),
    **dict.fromkeys(("snmp", "netware_snmp"), (partial(_before_marker, _markers(SNMP)),)),
    **dict.fromkeys(("win32", "bbwin", "powershell"), (partial(_after_equal, _markers(WIN32)),)),
    "sco_sv": (_regex(SCO_TCP, SCO_UDP),),
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
