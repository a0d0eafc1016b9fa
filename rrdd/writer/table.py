"""The file table: the one place where the writer's record of an RRD file lives.

A record (`RrdFile`) holds what the writer knows of one file it has touched: where it
is, its data sources, the newest time accepted for it, and the values not written
yet. The table finds records by host and name (or path), counts the values they hold,
moves a record to another name (a renamed host or test), and forgets the idle ones
when there are too many. The schedule (schedule.py) decides when a record's values are
written; the table only keeps them.

Invariants, which `check` tests: a record is under its own host and name; `pending`
is the sum of the records' counts; a count is the number of rows in the record's
pending text; `size` is the number of records.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from rrdd.events import Counts, Event
from rrdd.schema import Schema

log = logging.getLogger("rrdd.writer")


class State(Enum):
    """Whether a file exists, as far as the writer knows."""

    MADE = "made"
    WAITING = "waiting"  # not made yet: its creation waits (the create ceiling, a retry)
    MAKING = "making"  # a creator process is making it


@dataclass(slots=True, eq=False)
class RrdFile:
    """What the writer knows of one RRD file it has touched."""

    host: str
    name: str
    path: str
    test: str  # the column name: the RRA definitions' key
    schema: Schema  # of the latest update
    step: int
    track_max: bool = False
    last: int = 0  # newest timestamp accepted for the file, written or pending
    ds: tuple[str, ...] = ()  # the DS names the file has
    order: tuple[int | None, ...] | None = None  # file DS -> index in an update; None: same
    # Values not yet written, as rows joined by newlines (which no row has): one string
    # takes about half the memory of a list of rows.
    pending: str = ""
    count: int = 0  # rows in pending
    state: State = State.MADE
    turn: int = 0  # the number of its current turn in the schedule (schedule.py); 0: none

    @property
    def made(self) -> bool:
        return self.state is State.MADE

    def fit(self, schema: Schema) -> list[str]:
        """Take `schema` as the list of the updates to come (see `fit`): the names the
        file lacks."""
        self.schema = schema
        self.order, missing = fit(schema, self.ds)
        return missing


def fit(schema: Schema, ds: tuple[str, ...]) -> tuple[tuple[int | None, ...] | None, list[str]]:
    """Values of `schema` go to their own DS of a file that has `ds`, or nowhere. Returns
    where each DS finds its value in an update (None: nowhere, the DS gets U; the whole
    None: the same list), and the names the file lacks.

    Handlers that take their DS list from the message (ncv, trends, devmon) can send
    one that differs from the file's."""
    if schema.names == ds:
        return None, []
    index = {n: i for i, n in enumerate(schema.names)}
    return tuple(index.get(n) for n in ds), [n for n in schema.names if n not in ds]


class FileTable:
    def __init__(self, rrddir: str, max_files: int, counts: Counts):
        self.rrddir = rrddir
        self.counts = counts
        self.max_files = max_files  # records kept at most; beyond, idle ones are forgotten
        self.hosts: dict[str, dict[str, RrdFile]] = {}
        self.size = 0  # records held
        self.pending = 0  # values held, not yet handed to the store

    # --- finding --------------------------------------------------------------------

    def get(self, host: str, name: str) -> RrdFile | None:
        files = self.hosts.get(host)
        return None if files is None else files.get(name)

    def at(self, path: str) -> RrdFile | None:
        host, _, name = path.removeprefix(self.rrddir + "/").partition("/")
        return self.get(host, name)

    def holds(self, f: RrdFile) -> bool:
        """Whether `f` is still the record of its file (not let go since)."""
        return self.get(f.host, f.name) is f

    def of_host(self, host: str) -> list[RrdFile]:
        return list(self.hosts.get(host, {}).values())

    def __iter__(self) -> Iterator[RrdFile]:
        for files in list(self.hosts.values()):
            yield from list(files.values())

    def path(self, host: str, name: str) -> str:
        return os.path.join(self.rrddir, host, name)

    # --- records --------------------------------------------------------------------

    def add(self, f: RrdFile) -> None:
        if self.size >= self.max_files:
            self._forget_idle()
        self.hosts.setdefault(f.host, {})[f.name] = f
        self.size += 1

    def remove(self, f: RrdFile) -> None:
        """Let go of a record and of the values it holds."""
        self.discard(f)
        files = self.hosts.get(f.host)
        if files is None or files.get(f.name) is not f:
            return
        del files[f.name]
        if not files:
            del self.hosts[f.host]
        self.size -= 1

    def remove_host(self, host: str) -> int:
        """Let go of a host's records; the number of values they held."""
        files = self.hosts.pop(host, {})
        self.size -= len(files)
        return sum(self.discard(f) for f in files.values())

    def let_go(self, host: str) -> None:
        """Forget the records of a host's files that hold nothing; they are read again
        when next updated."""
        for f in self.of_host(host):
            if not f.pending and f.made:
                self.remove(f)

    def _forget_idle(self) -> None:
        """Bound the memory a flood of new hosts takes: drop the records of files with
        nothing pending (about 700 bytes each)."""
        for host in list(self.hosts):
            self.let_go(host)
        self.counts.add(Event.FILE_RECORDS_DROPPED)
        log.info("Over %d files tracked: idle ones forgotten, %d remain", self.max_files, self.size)

    def move(self, f: RrdFile, host: str, name: str) -> RrdFile:
        """Give a record's held values to another file (the same name under a new host
        name, or a new name for a renamed test): the record moves there, or its rows
        join the record already there, in time order. Returns the record that holds
        them; ValueError when the files have other DS (the values stay with `f`)."""
        into = self.get(host, name)
        if into is not None and into is not f and into.ds != f.ds:
            raise ValueError(f"{host}/{name} has other DS than {f.host}/{f.name}")
        files = self.hosts.get(f.host)
        if files is not None and files.get(f.name) is f:
            del files[f.name]
            if not files:
                del self.hosts[f.host]
            self.size -= 1
        if into is None:
            f.host, f.name, f.path = host, name, self.path(host, name)
            self.hosts.setdefault(host, {})[name] = f
            self.size += 1
            return f
        rows = [r for text in (into.pending, f.pending) if text for r in text.split("\n")]
        rows.sort(key=lambda row: int(row.split(":", 1)[0]))
        into.pending, into.count = "\n".join(rows), into.count + f.count
        into.last = max(into.last, f.last)
        f.pending, f.count = "", 0
        return into

    # --- values ---------------------------------------------------------------------

    def append(self, f: RrdFile, row: str) -> None:
        f.pending = f"{f.pending}\n{row}" if f.pending else row
        f.count += 1
        self.pending += 1

    def put_back(self, f: RrdFile, rows: str) -> None:
        """Rows taken (one per line) that must go again, ahead of the file's newer ones."""
        f.pending = f"{rows}\n{f.pending}" if f.pending else rows
        count = rows.count("\n") + 1
        f.count += count
        self.pending += count

    def take(self, f: RrdFile) -> int:
        """The record's values are handed to the store: forget them; how many they were."""
        count = f.count
        f.pending, f.count = "", 0
        self.pending -= count
        return count

    def discard(self, f: RrdFile) -> int:
        """Drop a record's values; how many they were."""
        return self.take(f)

    def check(self) -> None:
        """Raise AssertionError when an invariant does not hold (for tests)."""
        records = [(host, name, f) for host, fs in self.hosts.items() for name, f in fs.items()]
        assert self.size == len(records), (self.size, len(records))
        assert all(fs for fs in self.hosts.values()), "a host without records"
        for host, name, f in records:
            assert (f.host, f.name) == (host, name), (f.host, f.name, host, name)
            assert f.path == self.path(host, name), f.path
            assert f.count == (f.pending.count("\n") + 1 if f.pending else 0), f
        assert self.pending == sum(f.count for _, _, f in records), self.pending
