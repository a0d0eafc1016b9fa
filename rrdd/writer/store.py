"""Where RRD files are kept: librrd directly, or an rrdcached daemon (writer/rrdcached.py).

The writer decides what to write and when; a store only creates, reads and writes.
Rows are ``<ts>:<v1>:<v2>...`` in the file's own DS order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Protocol

import rrdtool

RRD_ERRORS = (rrdtool.OperationalError, rrdtool.ProgrammingError)


class StoreError(Exception):
    """One file could not be created or read."""


class StoreUnavailable(Exception):
    """The store cannot be reached at all (rrdcached is down); nothing was written."""


Rejection = tuple[int, int, str]  # (file index in the batch, row index, librrd's reason)


class Store(Protocol):
    batched: bool  # True: every value goes out at the end of each read (rrdcached)

    def create(self, path: str, args: Sequence[str]) -> None: ...

    def info(self, path: str) -> tuple[int, tuple[str, ...]]:
        """The last update time and the DS names of an existing file."""

    def write(self, batch: Sequence[tuple[str, Sequence[str]]]) -> list[Rejection]:
        """Apply the rows of each file in order; return the rows refused."""

    def flush(self, paths: Sequence[str]) -> None: ...

    def forget(self, paths: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class Librrd:
    """Files written in this process through the rrdtool binding."""

    batched = False

    def create(self, path: str, args: Sequence[str]) -> None:
        try:
            rrdtool.create(path, *args)
        except RRD_ERRORS as e:
            raise StoreError(str(e)) from None

    def info(self, path: str) -> tuple[int, tuple[str, ...]]:
        try:
            info = rrdtool.info(path)
        except RRD_ERRORS as e:
            raise StoreError(str(e)) from None
        index = {
            k[3:-7]: v for k, v in info.items() if k.startswith("ds[") and k.endswith("].index")
        }
        return int(info["last_update"]), tuple(sorted(index, key=index.__getitem__))

    def write(self, batch: Sequence[tuple[str, Sequence[str]]]) -> list[Rejection]:
        rejected: list[Rejection] = []
        for i, (path, rows) in enumerate(batch):
            done = 0
            while done < len(rows):
                try:
                    rrdtool.update(path, *rows[done:])
                    break
                except RRD_ERRORS as e:
                    # librrd applies a batch in order and stops at the first bad row.
                    bad = self._first_unapplied(path, rows, done)
                    if bad is None:
                        rejected += [(i, j, str(e)) for j in range(done, len(rows))]
                        break
                    rejected.append((i, bad, str(e)))
                    done = bad + 1
            with_mtime(path)
        return rejected

    def _first_unapplied(self, path: str, rows: Sequence[str], start: int) -> int | None:
        try:
            applied = rrdtool.last(path)
        except RRD_ERRORS:
            return None
        for j in range(start, len(rows)):
            if int(rows[j].split(":", 1)[0]) > applied:
                return j
        return None

    def flush(self, paths: Sequence[str]) -> None:
        pass

    def forget(self, paths: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        pass


def with_mtime(path: str) -> None:
    """librrd writes through mmap, which leaves the mtime; showgraph hides "stale" files."""
    with contextlib.suppress(OSError):
        os.utime(path)
