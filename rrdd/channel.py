"""Xymon's channel framing: bytes from xymond_channel -> `Message` and `Control` items.

Every message is ``@@<marker>[:<md5>]#<seq>/<key>|<field>|...\\n<body>\\n@@\\n``. The
header fields of the two message kinds rrdd writes from::

    @@status#SEQ/HOST|TS.USEC|SENDER|ORIGIN|HOST|TEST|VALIDUNTIL|COLOR|FLAGS|OLDCOLOR|
        LASTCHANGE|ACKTIME|ACKMSG|DISABLETIME|DISMSG|CLIENTTS|CLASS|PAGEPATH|FLAPPING|MODIFIERS
    @@data#SEQ/HOST|TS.USEC|SENDER|ORIGIN|HOST|TEST|CLASS|PAGEPATH

and the control messages, which have no body::

    @@drophost#SEQ/*|TS|SENDER|HOST          @@droptest#SEQ/*|TS|SENDER|HOST|TEST
    @@renamehost#SEQ/*|TS|SENDER|OLD|NEW     @@renametest#SEQ/*|TS|SENDER|HOST|OLD|NEW
    @@shutdown  @@logrotate  @@reload  @@idle

`ChannelParser` is fed raw bytes in any chunking and yields what they hold. It never
raises: junk is logged, counted in `counts` and skipped up to the next message, and the
good message after the junk is kept (xymond_rrd loses it).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from rrdd.cnum import strtoll
from rrdd.events import Counts, Event

log = logging.getLogger("rrdd.channel")

TERMINATOR = b"\n@@\n"
COLORS = ("green", "yellow", "red", "blue", "clear")  # the colours xymond_rrd writes from


@dataclass(frozen=True, slots=True)
class ControlKind:
    """What a control message carries and whom it concerns."""

    args: int  # the fields after TS|SENDER
    # "host": the host named by its first argument (renamehost: both names); "every":
    # every process that writes (reload, logrotate); "reader": the process reading the
    # channel alone (shutdown ends the input, idle says nothing)
    scope: str


# Every control message rrdd knows, in one place: the daemon's handlers, the router of
# --workers and the metrics' labels are checked against it.
CONTROLS: dict[str, ControlKind] = {
    "drophost": ControlKind(1, "host"),
    "droptest": ControlKind(2, "host"),
    "renamehost": ControlKind(2, "host"),
    "renametest": ControlKind(3, "host"),
    "reload": ControlKind(0, "every"),
    "logrotate": ControlKind(0, "every"),
    "shutdown": ControlKind(0, "reader"),
    "idle": ControlKind(0, "reader"),
}
DEFAULT_MAX_MESSAGE = 512 * 1024 + 4095  # xymond_rrd: largest channel buffer plus slack

PLAIN_MARKERS = {"@@status": "status", "@@data": "data"}  # before "#SEQ", without a digest
_HEADER = re.compile(r"@@([A-Za-z]*)(?::([0-9a-fA-F]*))?(?:#([0-9]{0,18})[0-9]*)?")


class Message(NamedTuple):
    """A status or data message, the input of the parsers.

    A NamedTuple rather than a frozen dataclass: one is made per message, and a tuple is
    made four times faster.
    """

    kind: str  # "status" or "data"
    seq: int | None
    timestamp: int  # xymond's post time, whole seconds: the RRD update time
    sender: str
    hostname: str
    testname: str
    color: str  # "" for data messages
    flags: str  # status test flags; "R" marks a reverse test
    classname: str
    pagepaths: str
    body: str  # the original message, its "status ..." / "data ..." line included


@dataclass(frozen=True, slots=True)
class Control:
    """A control message: drophost, renamehost, droptest, renametest, shutdown, ..."""

    kind: str
    args: tuple[str, ...] = ()
    seq: int | None = None


Item = Message | Control


class ChannelParser:
    """Splits a byte stream at ``\\n@@\\n`` and turns each block into an `Item`."""

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE, counts: Counts | None = None):
        self.max_message = max_message
        self.counts = counts if counts is not None else Counts()
        self._buf = bytearray()
        self._skipping = False  # inside an oversize message, waiting for its end
        self._last_seq: int | None = None
        self._second = ("", 0)  # the whole seconds of the last post time, as text and read

    def feed(self, data: bytes) -> Iterator[Item]:
        """Yield every complete item in the stream so far."""
        for block in self.blocks(data):
            item = self._block(block)
            if item is not None:
                yield item

    def item(self, block: bytes | bytearray) -> Item | None:
        """One message that someone else cut from a channel (a NATS message), without its
        terminator. Its sequence number is not compared with the one before: messages
        of both channels meet in a NATS worker."""
        self._last_seq = None
        return self._block(block)

    def blocks(self, data: bytes) -> Iterator[bytes | bytearray]:
        """Yield every complete message so far, without its terminator: it starts with
        "@@" (junk before it is skipped) and is at most max_message bytes long."""
        buf = self._buf
        scan_from = max(0, len(buf) - len(TERMINATOR) + 1)
        buf += data
        if buf.find(TERMINATOR, scan_from) >= 0:
            *blocks, rest = buf.split(TERMINATOR)
            buf = self._buf = rest
            for block in blocks:
                if self._skipping:
                    self._skipping = False
                    continue
                if len(block) > self.max_message:
                    self._oversize(block)
                    continue
                if block and not block.startswith(b"@@"):  # two terminators in a row: no junk
                    block = self._skip_junk(block)
                if block:
                    yield block
        if len(buf) > self.max_message and not self._skipping:
            self._oversize(buf)
            self._skipping = True
        if self._skipping:
            del buf[: max(0, len(buf) - len(TERMINATOR) + 1)]

    def _skip_junk(self, block: bytearray) -> bytearray:
        """Junk before a message: skip to the next "\\n@@" and keep what follows."""
        pos = block.find(b"\n@@")
        log.warning("Bad data in channel, skipping %d bytes", len(block) if pos < 0 else pos + 1)
        self.counts.add(Event.GARBAGE)
        return bytearray() if pos < 0 else block[pos + 1 :]

    def _oversize(self, data: bytes | bytearray) -> None:
        head = bytes(data[:200]).split(b"\n", 1)[0]
        log.warning("Oversize message (over %d bytes) dropped: %r", self.max_message, head)
        self.counts.add(Event.OVERSIZE)

    def close(self) -> None:
        """End of input: a message without its terminator is lost, as in xymond_rrd."""
        if self._buf.strip() and not self._skipping:
            head = bytes(self._buf[:200]).split(b"\n", 1)[0]
            log.warning("Unterminated message at end of input dropped: %r", head)
            self.counts.add(Event.UNTERMINATED)
        self._buf.clear()

    def _block(self, block: bytes | bytearray) -> Item | None:
        header, _, text = block.decode("utf-8", "surrogateescape").partition("\n")
        fields = header.split("|")
        start, hashmark, rest = fields[0].partition("#")
        digits = rest.partition("/")[0]
        marker = PLAIN_MARKERS.get(start) if hashmark else None
        if marker and digits.isdigit() and digits.isascii() and len(digits) <= 18:
            seq: int | None = int(digits)  # the usual "@@status#SEQ/HOST": no regex needed
        else:
            m = _HEADER.match(header)
            assert m is not None  # the block starts with "@@"
            marker, digest, digits = m.groups()
            if digest is not None and not self._checksum_ok(block, header, digest):
                return None
            seq = None if digits is None else int(digits or "0")
        if seq is not None:
            if seq == self._last_seq:
                log.debug("Duplicate message %d dropped", seq)
                self.counts.add(Event.DUPLICATE)
                return None
            self._last_seq = seq
        if "\r" in text:
            text = text.replace("\r\n", "\n").removesuffix("\r")
        if marker.startswith("status"):
            return self._status(seq, fields, text)
        if marker.startswith("data"):
            return self._data(seq, fields, text)
        kind = control_kind(marker)
        if kind is None:
            self._ignored(Event.IGNORED_UNKNOWN, fields)
            return None
        nargs = CONTROLS[kind].args
        if nargs and len(fields) < 3 + nargs:  # xymond_rrd acts on a bare @@shutdown or @@idle
            self._ignored(Event.IGNORED_SHORT, fields)
            return None
        return Control(kind, tuple(fields[3 : 3 + nargs]), seq)

    def _checksum_ok(self, block: bytes | bytearray, header: str, digest: str) -> bool:
        cut = block.find(b":")  # the digest is ":<hex>" right after the marker
        plain = bytes(block[:cut]) + bytes(block[cut + 1 + len(digest) :]) + TERMINATOR
        if hashlib.md5(plain).hexdigest() == digest.lower():
            return True
        log.warning("Invalid checksum, skipping message %.200r", header)
        self.counts.add(Event.BAD_CHECKSUM)
        return False

    def _status(self, seq: int | None, f: list[str], body: str) -> Message | None:
        if len(f) < 14 or not body:
            self._ignored(Event.IGNORED_SHORT, f)
            return None
        color = f[7]
        if not color.startswith(COLORS):
            self.counts.add(Event.IGNORED_COLOR)  # purple and unknown colours carry no fresh data
            return None
        return Message(
            "status",
            seq,
            self._timestamp(f[1]),
            f[2],
            f[4],
            f[5],
            color,
            f[8],
            _get(f, 16),
            _get(f, 17),
            body,
        )

    def _data(self, seq: int | None, f: list[str], body: str) -> Message | None:
        if len(f) < 6 or not body:
            self._ignored(Event.IGNORED_SHORT, f)
            return None
        ts = self._timestamp(f[1])
        return Message("data", seq, ts, f[2], f[4], f[5], "", "", _get(f, 6), _get(f, 7), body)

    def _timestamp(self, text: str) -> int:
        """The whole seconds of a post time, read once for all the messages of a second."""
        whole = text.partition(".")[0]
        if whole != self._second[0]:
            self._second = (whole, _seconds(whole))
        return self._second[1]

    def _ignored(self, event: Event, fields: list[str]) -> None:
        log.debug("Ignoring %s message: %.200s", event.label, "|".join(fields))
        self.counts.add(event)


def control_kind(marker: str) -> str | None:
    """The control message a header's marker names ("drophost" for "@@drophost" or
    "drophost"), as xymond_rrd reads it: by its start."""
    marker = marker.removeprefix("@@")
    return next((kind for kind in CONTROLS if marker.startswith(kind)), None)


class Route(NamedTuple):
    """What a framed message concerns, read from its header alone: the router of --workers
    and a relay to NATS pass messages on by it without reading them whole."""

    kind: str  # "status", "data", a key of CONTROLS, or "" (not one rrdd knows)
    hosts: tuple[bytes, ...]  # the host it is about; renamehost: (old, new); else ()


def route(block: bytes | bytearray) -> Route:
    """The Route of one message (without its terminator), as `ChannelParser.blocks` gives
    them. A header too short for its host gives no host: the reader refuses it."""
    end = block.find(b"\n")
    fields = (block if end < 0 else block[:end]).split(b"|", 5)
    marker = fields[0]
    if marker.startswith((b"@@status", b"@@data")):
        kind = "status" if marker.startswith(b"@@status") else "data"
        return Route(kind, (bytes(fields[4]),) if len(fields) > 4 else ())
    kind = control_kind(marker.split(b"#", 1)[0].decode("ascii", "replace")) or ""
    if kind and CONTROLS[kind].scope == "host":
        names = 2 if kind == "renamehost" else 1
        return Route(
            kind, tuple(map(bytes, fields[3 : 3 + names])) if len(fields) > 2 + names else ()
        )
    return Route(kind, ())


def _seconds(whole: str) -> int:
    """The whole seconds of xymond's "<sec>.<usec>" post time, the part before the
    ".", read as atoi would."""
    fast = whole.isdigit() and whole.isascii() and len(whole) < 19
    return int(whole) if fast else strtoll(whole)


def _get(fields: list[str], i: int) -> str:
    return fields[i] if i < len(fields) else ""
