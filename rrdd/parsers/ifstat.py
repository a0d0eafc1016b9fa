"""ifstat: bytes sent and received per network interface, from the client's [ifstat].

Handles: ifstat (the data message xymond_client makes of a client report)

Sample body (Linux, net-tools 2.x ``ifconfig``)::

    data web01,example,com.ifstat
    linux
    enp0s3: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
            inet 192.0.2.10  netmask 255.255.255.0  broadcast 192.0.2.255
            RX packets 1234567  bytes 987654321 (941.9 MiB)
            TX packets 654321  bytes 123456789 (117.7 MiB)

Line 2 names the OS and picks the layout: ``ifconfig`` blocks (linux, rhel3, linux22,
zvm, zvse, zos; old ``RX bytes:`` or new ``RX packets .. bytes`` counters; ``lo`` and
names with ``-``, ``.`` or ``@`` are skipped), ``netstat -ibnW`` Link rows (freebsd),
``netstat -ibn`` / ``netstat -i -b -n`` IPv4 rows (darwin, openbsd, netbsd), ``kstat``
obytes64/rbytes64 pairs (solaris), ``netstat -v`` adapter sections (aix), ``lanadmin -g
mibstats`` (hpux: the file is named after the PPA number), ``ifconfig -in`` (sco_sv:
packets, not bytes) and ``IP Ibytes Obytes`` rows (bbwin, powershell: named after the IP
address). Other systems send nothing rrdd reads. The host's INTERFACES: regex in
hosts.cfg (caseless) limits which interfaces are written.

Writes:
    ifstat.<interface>.rrd   bytesSent, bytesReceived (DERIVE, min 0): the counters as
                             sent, e.g. ifstat.eth0.rrd, ifstat.0.rrd, ifstat.192.0.2.50.rrd
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._common import os_line
from rrdd.schema import Schema, Update, commas, rrdname

SCHEMA = Schema.of("DS:bytesSent:DERIVE:600:0:U", "DS:bytesReceived:DERIVE:600:0:U")
CAPTURE_MAX = 99  # pickdata copies a capture into a 100-byte buffer, or copies nothing
INDENT = r"^\s+"  # how a pattern of an indented line starts
# A blank that is not a line end: what \s means in a line pattern. It is [^\S\n] of an
# ASCII regex, spelled out because sre tests a plain set faster than a negated class.
BLANK = r"[ \t\r\f\v]"


# A set with letters in a pattern, such as [a-z0-9]: one not negated and without escapes.
LETTER_SET = re.compile(r"\[(?!\^)[^]\\]*[a-z][^]\\]*\]", re.I)


def _group(pattern: str) -> str:
    """A pattern as one alternative of a line regex: blanks kept in the line, sets of
    letters made plain sets."""
    return "(?:" + LETTER_SET.sub(_cased_set, pattern.replace(r"\s", BLANK)) + ")"


def _cased_set(m: re.Match[str]) -> str:
    """A caseless set of letters as the plain set of the characters it matches: sre
    repeats a plain set in one step, a caseless one a character at a time.

    An ASCII regex matches a letter's other case only, so these are the ASCII characters
    the set matches, e.g. [a-z0-9] -> [0-9A-Za-z]."""
    caseless = re.compile(m[0], re.I | re.A)
    chars = [chr(c) for c in range(128) if caseless.fullmatch(chr(c))]
    return "(?-i:[" + "".join(map(re.escape, chars)) + "])"


class LinePatterns:
    """xymond's per-line pickdata() patterns, tried in order, run as one pass over a text.

    The patterns keep xymond's text (caseless); their blanks are kept from matching a
    line end, so each pattern sees one line at a time, as in xymond, and their sets of
    letters are spelled in both cases (_cased_set), for speed. Each pattern has a
    capture that all its matches set, so the last group a match closes (its lastindex)
    is one of the matched pattern's own: `pattern_of` maps it back to the pattern.
    """

    def __init__(self, *patterns: str):
        self.pattern_of: list[int] = [-1]  # a capture group's number -> its pattern
        self.groups: list[range] = []  # each pattern's capture groups, by number
        parts: list[str] = []  # the alternatives of the line regex, in pattern order
        indented: list[str] = []  # a run of patterns that start with blanks, blanks cut off
        for which, pattern in enumerate(patterns):
            count = re.compile(pattern).groups
            if not count:
                raise ValueError(f"{pattern!r} captures nothing: its matches are not told apart")
            first = len(self.pattern_of)
            self.groups.append(range(first, first + count))
            self.pattern_of += [which] * count
            # Consecutive patterns of blanks and then a letter share one possessive blank
            # run, so the engine reads an indented line's blanks once, not once per pattern
            # and again per backtrack. A letter is no blank: each pattern matches as before.
            rest = pattern.removeprefix(INDENT)
            if rest != pattern and rest[:1].isalpha():
                indented.append(_group(rest))
                continue
            if indented:
                parts.append(rf"{BLANK}++(?:{'|'.join(indented)})")
                indented = []
            parts.append(_group(pattern.removeprefix("^")))
        if indented:
            parts.append(rf"{BLANK}++(?:{'|'.join(indented)})")
        # A line start is found as the newline before it: sre searches a literal quickly.
        self.regex = re.compile("\n(?:" + "|".join(parts) + ")", re.I | re.A)

    def scan(self, text: str, eol: int) -> Iterator[tuple[int, tuple[str, ...]]]:
        """(which pattern, its captures) for each line after the newline at `eol` that one
        of the patterns matches."""
        pattern_of, groups = self.pattern_of, self.groups
        for m in self.regex.finditer(text, eol):
            which = pattern_of[m.lastindex or 0]
            values = m.groups("")[groups[which].start - 1 : groups[which].stop - 1]
            if m.end() - m.start() > CAPTURE_MAX:  # only a long match holds a long capture
                values = tuple(_cap(v) for v in values)
            yield which, values


# The OS (as ostype() names it) -> which layout below reads its ifstat section.
LAYOUT_OF = {
    **dict.fromkeys(("linux", "linux22", "rhel3", "zvm", "zvse", "zos"), "ifconfig"),
    "freebsd": "freebsd",
    "openbsd": "bsd",
    "netbsd": "bsd",
    "darwin": "darwin",
    "sco_sv": "sco_sv",
    "bbwin": "windows",
    "powershell": "windows",
    "solaris": "solaris",
    "aix": "aix",
    "hpux": "hpux",
}

# One line per interface, captures (name, received, sent); the first pattern that matches.
ROWS = {
    "freebsd": LinePatterns(
        # Both with FreeBSD 8's Idrop column (older rows match neither): an IPv4 row, and
        # the <Link#n> row the client sends, whose Address is blank for a tunnel on 9 and 10.
        r"^([a-z0-9]+)\s+\d+\s+[0-9./]+\s+[0-9.]+\s+\d+\s+[0-9-]+\s+[0-9-]+\s+(\d+)"
        r"\s+\d+\s+[0-9-]+\s+(\d+)\s+[0-9-]+",
        r"^([a-z0-9]+)\s+\d+\s+<Link#\d+>\s+.*\s+\d+\s+[0-9-]+\s+[0-9-]+\s+(\d+)"
        r"\s+\d+\s+[0-9-]+\s+(\d+)\s+[0-9-]+",
    ),
    "bsd": LinePatterns(r"^([a-z0-9]+)\s+\d+\s+[0-9./]+\s+[0-9.]+\s+(\d+)\s+(\d+)"),
    "darwin": LinePatterns(
        r"^([a-z0-9]+)\s+\d+\s+[0-9./]+\s+[0-9.]+\s+\d+\s+[0-9-]+\s+(\d+)\s+\d+"
        r"\s+[0-9-]+\s+(\d+)\s+[0-9-]+",
    ),
    "sco_sv": LinePatterns(
        r"^([a-z]+[0-9]+)\s+[0-9]+\s+[0-9.]+\s+[0-9.]+\s+([0-9]+)\s+[0-9]+\s+([0-9]+)\s+",
    ),
    "windows": LinePatterns(r"^([a-zA-Z0-9.:]+)\s+([0-9]+)\s+([0-9]+)"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sections:
    """A layout of one block per interface: a name line, then counter lines."""

    lines: LinePatterns  # the name line first, then the counter lines
    fields: tuple[tuple[str, ...], ...]  # what each counter line's captures are
    ifconfig: bool  # Linux: one trailing ":" dropped, "lo" skipped
    # pattern -> the numbers of the groups of its received and sent values in the line
    # regex, 0 for a value the line does not hold (the name line: (0, 0))
    rx_tx: tuple[tuple[int, int], ...] = field(init=False)

    def __post_init__(self) -> None:
        rx_tx = [(0, 0)]
        for which, captures in enumerate(self.fields, 1):
            first = self.lines.groups[which].start
            rx, tx = (first + captures.index(f) if f in captures else 0 for f in ("rx", "tx"))
            rx_tx.append((rx, tx))
        object.__setattr__(self, "rx_tx", tuple(rx_tx))


SECTIONS = {
    "ifconfig": Sections(
        LinePatterns(
            # xymond's name pattern is ^([a-z0-9]+(?:_[0-9]+)?:*|lo:?)\s, which every line
            # tries. Its second alternative is left out: any line it matches, the first one
            # matches first, with the same capture ("lo" or "lo:").
            r"^([a-z0-9]+(?:_[0-9]+)?:*)\s",
            r"^\s+RX bytes:([0-9]+) .*TX bytes.([0-9]+) ",
            r"^\s+RX packets\s+[0-9]+\s+bytes\s+([0-9]+) ",
            r"^\s+TX packets\s+[0-9]+\s+bytes\s+([0-9]+) ",
        ),
        fields=(("rx", "tx"), ("rx",), ("tx",)),
        ifconfig=True,
    ),
    "aix": Sections(
        LinePatterns(
            r"^ETHERNET STATISTICS \(([a-z0-9]+)\) :",
            r"^Bytes:\s+(\d+)\s+Bytes:\s+(\d+)",  # the Transmit column, then Receive
        ),
        fields=(("tx", "rx"),),
        ifconfig=False,
    ),
    "hpux": Sections(
        LinePatterns(
            r"^PPA Number\s+= (\d+)",
            r"^Inbound Octets\s+= (\d+)",
            r"^Outbound Octets\s+= (\d+)",
        ),
        fields=(("rx",), ("tx",)),
        ifconfig=False,
    ),
}
SOLARIS = LinePatterns(
    r"^[a-z0-9]+:\d+:([a-z0-9]+):obytes64\s+(\d+)",
    r"^[a-z0-9]+:\d+:([a-z0-9]+):rbytes64\s+(\d+)",
)
SOLARIS_SKIP = ("mac", "wrsmd")  # parts of an aggregated NIC, counted in the aggregate


@dataclass(slots=True)
class _Pending:
    """What xymond has collected for the interface it is reading."""

    name: str | None = None
    rx: str | None = None
    tx: str | None = None
    other: str | None = None  # solaris: the name on the rbytes64 line
    mask: int = 0  # 1 = name, 2 = received, 4 = sent

    def take(self) -> tuple[str, str, str] | None:
        """(name, received, sent) once all three are in and the mask is full."""
        name, rx, tx = self.name, self.rx, self.tx
        if self.mask != 7 or name is None or rx is None or tx is None:
            return None
        return name, rx, tx


@register("ifstat", files=("ifstat.*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    os, _, report = os_line(body, "ifstat")
    layout = LAYOUT_OF.get(os)
    eol = report - 1  # the rows' patterns start with the newline before them
    if layout is None:
        return
    # A line no pattern matches leaves xymond's state as it was, so only matches count.
    found: Iterator[tuple[str, str, str]]
    if layout in ROWS:
        found = ((name, rx, tx) for _, (name, rx, tx) in ROWS[layout].scan(body, eol))
    elif layout == "solaris":
        found = _solaris(body, eol)
    else:
        found = _sections(SECTIONS[layout], body, eol)
    wanted = ctx.interfaces(msg.hostname)
    for name, rx, tx in found:
        # xymond loses a capture of more than 99 characters (an empty name or value).
        if not (name and rx and tx) or (wanted is not None and not wanted.search(name)):
            continue
        yield Update(_file(name), SCHEMA, (tx, rx))


@lru_cache(maxsize=4096)
def _file(name: str) -> str:
    """The RRD file of an interface. Cached: a host reports the same interfaces every five
    minutes; the size bounds it against odd input."""
    return rrdname(f"ifstat.{commas(name)}.rrd")


def _sections(layout: Sections, text: str, eol: int) -> Iterator[tuple[str, str, str]]:
    # What xymond has collected for the interface it is reading. xymond also keeps a mask
    # (1 = name, 2 = received, 4 = sent) and emits when it is full and all three values
    # are held; a value is only held while its bit is set, so holding all three is the
    # same test. The loop reads the matches itself, without scan(): it is the hot path.
    pattern_of, rx_tx = layout.lines.pattern_of, layout.rx_tx
    name_group = layout.lines.groups[0].start
    name = rx = tx = None
    for m in layout.lines.regex.finditer(text, eol):
        which = pattern_of[m.lastindex or 0]
        if which == 0:
            found = _cap(m[name_group])
            if layout.ifconfig:
                found = found.removesuffix(":")
            if layout.ifconfig and found == "lo":
                name = None  # loopback: the counters read so far stay, as in xymond
            else:
                name, rx, tx = found, None, None
            continue
        rx_group, tx_group = rx_tx[which]
        if rx_group:
            rx = m[rx_group]
        if tx_group:
            tx = m[tx_group]
        if name is not None and rx is not None and tx is not None:
            # Capped here, not when read: a lost value ("") is held all the same.
            yield name, _cap(rx), _cap(tx)
            name = rx = tx = None


def _solaris(text: str, eol: int) -> Iterator[tuple[str, str, str]]:
    # pickdata without dupok: a value already held is not replaced by a later line.
    p = _Pending()
    for which, (name, value) in SOLARIS.scan(text, eol):
        if which == 0:
            p.name = p.name if p.name is not None else name
            p.tx = p.tx if p.tx is not None else value
            p.mask |= 1
        else:
            p.other = p.other if p.other is not None else name
            p.rx = p.rx if p.rx is not None else value
            p.mask |= 6
        if p.name is not None and p.other is not None and p.name != p.other:
            p = _Pending()  # obytes64 and rbytes64 of different interfaces: both dropped
        if p.name in SOLARIS_SKIP:
            p.name = p.tx = None
            p.mask = 0
        if p.other in SOLARIS_SKIP:
            p.other = p.rx = None
            p.mask = 0
        row = p.take()
        if row is not None:
            yield row
            p = _Pending()


def _cap(text: str) -> str:
    return text if len(text) <= CAPTURE_MAX else ""
