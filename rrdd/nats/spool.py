"""The relay's spool: messages kept on disk, in order, while NATS cannot take them.

A directory of segment files ``<number>.seg`` written one after the other; a record is
a 4-byte big-endian length, then ``id NUL subject NUL payload``. The file ``head`` holds
the segment and offset of the oldest record not yet published; segments behind it are
removed. Records keep their publish id, so a record published before a crash and
published again from the spool is dropped by the server's duplicate window.

Writes go to the page cache without fsync: the spool outlives the relay, not the machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger("rrdd.nats")

SEGMENT = 8 << 20  # bytes of a segment before the next one starts
_LENGTH = struct.Struct(">I")


class Record(NamedTuple):
    id: str  # the Nats-Msg-Id
    subject: str
    payload: bytes


class Position(NamedTuple):
    segment: int
    offset: int


class Spool:
    def __init__(self, directory: Path, max_bytes: int):
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self.segments = sorted(int(p.stem) for p in directory.glob("*.seg") if p.stem.isdigit())
        self.head = self._read_head()
        for number in [s for s in self.segments if s < self.head.segment]:
            self._remove(number)
        if not self.segments:
            self.segments = [self.head.segment]
        self.bytes = sum(self._size(s) for s in self.segments) - self.head.offset
        self._tail = os.open(
            self._path(self.segments[-1]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640
        )
        self._tail_size = os.fstat(self._tail).st_size  # kept here: no fstat per record

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:010d}.seg"

    def _size(self, number: int) -> int:
        try:
            return self._path(number).stat().st_size
        except FileNotFoundError:
            return 0

    def _read_head(self) -> Position:
        try:
            segment, offset = (self.directory / "head").read_text().split()
            return Position(int(segment), int(offset))
        except (OSError, ValueError):
            return Position(self.segments[0] if self.segments else 1, 0)

    def _remove(self, number: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(number).unlink()
        if number in self.segments:
            self.segments.remove(number)

    def __bool__(self) -> bool:
        return self.bytes > 0

    def append(self, record: Record) -> bool:
        """Keep a record after the others; False when it does not fit under max_bytes."""
        body = b"\0".join((record.id.encode(), record.subject.encode(), record.payload))
        size = _LENGTH.size + len(body)
        if self.bytes + size > self.max_bytes:
            return False
        if self._tail_size >= SEGMENT:
            os.close(self._tail)
            self.segments.append(self.segments[-1] + 1)
            self._tail = os.open(
                self._path(self.segments[-1]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640
            )
            self._tail_size = 0
        os.write(self._tail, _LENGTH.pack(len(body)) + body)
        self._tail_size += size
        self.bytes += size
        return True

    def peek(self, count: int) -> list[tuple[Record, Position]]:
        """The oldest `count` records (or fewer), each with the position after it."""
        found: list[tuple[Record, Position]] = []
        segment, offset = self.head
        while len(found) < count and segment <= self.segments[-1]:
            try:
                with open(self._path(segment), "rb") as f:
                    f.seek(offset)
                    while len(found) < count:
                        length = f.read(_LENGTH.size)
                        if len(length) < _LENGTH.size:
                            break
                        body = f.read(_LENGTH.unpack(length)[0])
                        offset = f.tell()
                        id_, subject, payload = body.split(b"\0", 2)
                        found.append(
                            (
                                Record(id_.decode(), subject.decode(), payload),
                                Position(segment, offset),
                            )
                        )
            except FileNotFoundError:
                pass
            if len(found) < count:
                segment, offset = segment + 1, 0
        return found

    def commit(self, position: Position) -> None:
        """Everything before `position` has been published: forget it."""
        before = self.head
        self.bytes -= sum(self._size(s) for s in range(before.segment, position.segment))
        self.bytes -= position.offset - before.offset
        for number in [s for s in self.segments if s < position.segment]:
            self._remove(number)
        if not self.segments:
            self.segments = [position.segment]
        self.head = position
        if not self and position.segment == self.segments[-1]:
            # Empty: start the segment over instead of growing it for ever.
            os.ftruncate(self._tail, 0)
            self._tail_size = 0
            self.head = Position(position.segment, 0)
        temp = self.directory / ".head"
        temp.write_text(f"{self.head.segment} {self.head.offset}\n")
        os.replace(temp, self.directory / "head")

    def close(self) -> None:
        os.close(self._tail)
