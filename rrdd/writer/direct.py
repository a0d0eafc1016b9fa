"""The direct writer: librrd through the rrdtool binding, with Xymon's update cache.

Files live at ``<rrddir>/<host>/<rrd>``. A missing file is created on its first update
(even with --no-rrd, as xymond_rrd does) with start = min(now, first update) - 10 s, so a
live stream gives xymond's files exactly and a replayed backlog is not rejected.

Values wait in a per-file cache and are written in one librrd call when the file has
`CACHE_SIZE` of them, on flush() and at close(). A value older than or as old as the
newest one the file has is dropped and counted before it reaches librrd. If librrd
still rejects a value of a batch, that value is logged and counted and the rest of the
batch is written (xymond_rrd loses the rest of the batch).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rrdtool

from rrdd.schema import Schema, Update, unsafe_name, unsafe_path
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd.writer")

CACHE_SIZE = 12  # values per file before a write; about an hour at a 300 s step
RRD_ERRORS = (rrdtool.OperationalError, rrdtool.ProgrammingError)


@dataclass(slots=True)
class RrdFile:
    """What the writer knows of one RRD file it has touched."""

    path: str
    test: str  # the column name: the RRA definitions' key
    schema: Schema  # of the latest update
    step: int
    last: int = 0  # newest timestamp accepted for the file, written or pending
    ds: tuple[str, ...] = ()  # the DS names the file has
    template: str = ""  # the DS the pending values are for
    keep: tuple[int, ...] | None = None  # which values of an update the file has DS for
    pending: list[str] = field(default_factory=list)


class DirectWriter:
    def __init__(
        self,
        rrddir: Path,
        rras: RraDefinitions,
        stats: Counter[str],
        *,
        cache: bool = True,
        update: bool = True,
        clock: Callable[[], float] = time.time,
        accepted: Callable[[str, Update, int], None] | None = None,
    ):
        self.rrddir = str(rrddir)
        self.rras = rras
        self.stats = stats
        self.cache = cache
        self.update = update
        self.clock = clock
        self.accepted = accepted  # sees every update that passed the time checks (--processor)
        self.hosts: dict[str, dict[str, RrdFile]] = {}
        self._refused: set[tuple[str, str]] = set()

    # --- the update path -------------------------------------------------------------

    def write(self, host: str, test: str, timestamp: int, update: Update) -> None:
        files = self.hosts.get(host)
        f = files.get(update.rrd) if files is not None else None
        if f is None:
            f = self._open(host, test, timestamp, update)
            if f is None:
                return
        if update.schema is not f.schema and update.schema.template != f.schema.template:
            self._write_pending(host, f)
            self._fit(host, f, update.schema)
        if timestamp <= f.last:
            self.stats["updates_dropped_old"] += 1
            log.debug(
                "%s/%s: update at %d dropped: the file has %d already",
                host,
                update.rrd,
                timestamp,
                f.last,
            )
            return
        values = update.values if f.keep is None else tuple(update.values[i] for i in f.keep)
        if not values:
            return
        row = ":".join((str(timestamp), *values))
        if not row.isprintable():  # NUL, control bytes or undecodable input
            self._refuse(host, update.rrd, f"unprintable value {row[:80]!r}")
            return
        f.last = timestamp
        if self.accepted is not None:
            self.accepted(host, update, timestamp)
        if not self.update:
            return
        f.pending.append(row)
        if not self.cache or len(f.pending) >= CACHE_SIZE:
            self._write_pending(host, f)

    def _fit(self, host: str, f: RrdFile, schema: Schema) -> None:
        """Write values only to DS the file has, whatever DS list the update brings.

        Handlers that take their DS list from the message (ncv, trends, devmon) can send one
        that differs from the file's: each value goes to its own DS, or nowhere.
        """
        f.schema = schema
        missing = [n for n in schema.names if n not in f.ds]
        if not missing:
            f.template, f.keep = schema.template, None
            return
        f.keep = tuple(i for i, n in enumerate(schema.names) if n in f.ds)
        f.template = ":".join(schema.names[i] for i in f.keep)
        self.stats["ds_mismatches"] += 1
        log.warning(
            "%s/%s: the file has no DS %s, so those values are dropped (it has: %s)",
            host,
            os.path.basename(f.path),
            ", ".join(missing),
            ", ".join(f.ds),
        )

    def _open(self, host: str, test: str, timestamp: int, update: Update) -> RrdFile | None:
        reason = unsafe_name(host) or unsafe_name(update.rrd)
        hostdir = os.path.join(self.rrddir, host)
        path = os.path.join(hostdir, update.rrd)
        reason = reason or unsafe_path(path)
        if reason:
            self._refuse(host, update.rrd, reason)
            return None
        f = RrdFile(path, test, update.schema, update.step)
        try:
            os.makedirs(hostdir, exist_ok=True)
            if os.path.exists(path):
                f.last, f.ds = _info(path)
            else:
                f.last = self._create(f, timestamp, update.track_max)
        except (OSError, *RRD_ERRORS) as e:
            self.stats["rrd_open_errors"] += 1
            log.error("%s/%s: cannot use %s: %s", host, update.rrd, path, e)
            return None
        self._fit(host, f, update.schema)
        self.hosts.setdefault(host, {})[update.rrd] = f
        return f

    def _create(self, f: RrdFile, timestamp: int, track_max: bool = False) -> int:
        """Create the file; return its start time (its first last_update)."""
        start = min(int(self.clock()), timestamp) - 10
        rras = self.rras.lookup(f.test, f.step)
        if track_max:  # TRACKMAX: a MAX RRA beside each AVERAGE one
            rras = (
                *rras,
                *(
                    r.replace("RRA:AVERAGE:", "RRA:MAX:", 1)
                    for r in rras
                    if r.startswith("RRA:AVERAGE:")
                ),
            )
        step = [] if any(a.startswith(("-s", "--step")) for a in rras) else ["-s", str(f.step)]
        rrdtool.create(f.path, "-b", str(start), *step, *f.schema.defs, *rras)
        self.stats["rrd_creates"] += 1
        f.ds = f.schema.names
        return start

    def existing_ds(self, host: str, rrd: str) -> tuple[str, ...] | None:
        """The DS names of a host's RRD file, or None when it does not exist (or is unsafe)."""
        f = self.hosts.get(host, {}).get(rrd)
        if f is not None:
            return f.ds
        if unsafe_name(host) or unsafe_name(rrd):
            return None
        try:
            return _info(os.path.join(self.rrddir, host, rrd))[1]
        except (OSError, *RRD_ERRORS):
            return None

    def _write_pending(self, host: str, f: RrdFile) -> None:
        rows, f.pending = f.pending, []
        while rows:
            try:
                rrdtool.update(f.path, "-t", f.template, *rows)
                self.stats["rrd_writes"] += 1
                self.stats["values_written"] += len(rows)
                break
            except RRD_ERRORS as e:
                rows = self._after_rejection(host, f, rows, str(e))
        # librrd writes through mmap, which leaves the mtime; showgraph hides "stale" files.
        with contextlib.suppress(OSError):
            os.utime(f.path)

    def _after_rejection(self, host: str, f: RrdFile, rows: list[str], error: str) -> list[str]:
        """librrd applies a batch in order and stops at the first bad value: drop that one."""
        name = os.path.basename(f.path)
        if not os.path.exists(f.path):
            try:  # deleted behind our back: make it again and keep the values
                self._create(f, _ts(rows[0]))
                log.warning("%s/%s: file disappeared; created it again", host, name)
                return rows
            except (OSError, *RRD_ERRORS) as e:
                error = f"file disappeared and cannot be created again: {e}"
        try:
            applied = rrdtool.last(f.path)
        except RRD_ERRORS:
            applied = None
        if applied is None:
            self.stats["updates_rejected"] += len(rows)
            log.error("%s/%s: %d values lost: %s", host, name, len(rows), error)
            return []
        rows = [r for r in rows if _ts(r) > applied]
        if rows:
            self.stats["updates_rejected"] += 1
            log.warning("%s/%s: value %.80s rejected: %s", host, name, rows[0], error)
        return rows[1:]

    def _refuse(self, host: str, rrd: str, reason: str) -> None:
        self.stats["updates_refused"] += 1
        if (host, rrd) not in self._refused:
            if len(self._refused) > 10000:
                self._refused.clear()
            self._refused.add((host, rrd))
            log.warning("%.100s/%.100s: refused: %s", host, rrd, reason)

    # --- flushing --------------------------------------------------------------------

    def flush(self, host: str | None = None) -> None:
        hosts = [host] if host is not None else list(self.hosts)
        for h in hosts:
            for f in self.hosts.get(h, {}).values():
                if f.pending:
                    self._write_pending(h, f)

    def pending(self) -> int:
        return sum(len(f.pending) for files in self.hosts.values() for f in files.values())

    def close(self) -> None:
        self.flush()

    # --- host and test maintenance (drophost, renamehost, droptest, renametest) -------

    def drop_host(self, host: str) -> None:
        _check(host)
        self._forget(host)
        path = os.path.join(self.rrddir, host)
        try:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)
            elif os.path.isdir(path):
                shutil.rmtree(path)
        except OSError as e:
            log.error("drophost %s: cannot delete %s: %s", host, path, e)

    def rename_host(self, old: str, new: str) -> None:
        _check(old)
        _check(new)
        self.flush(old)
        self.flush(new)
        self._forget(old)
        self._forget(new)
        src, dst = os.path.join(self.rrddir, old), os.path.join(self.rrddir, new)
        if not os.path.isdir(src):
            return  # nothing to move, or the worker on the other channel moved it already
        try:
            if not os.path.exists(dst):
                os.rename(src, dst)
                return
            kept = []
            for name in sorted(os.listdir(src)):
                if os.path.lexists(os.path.join(dst, name)):
                    kept.append(name)
                else:
                    os.rename(os.path.join(src, name), os.path.join(dst, name))
            if kept:
                log.warning(
                    "renamehost %s -> %s: %s exists; kept %d files in %s that both have: %s",
                    *(old, new, dst, len(kept), src, ", ".join(kept)),
                )
            else:
                os.rmdir(src)
        except OSError as e:
            log.error("renamehost %s -> %s: %s", old, new, e)

    def host_files(self, host: str) -> list[str]:
        _check(host)
        try:
            return sorted(os.listdir(os.path.join(self.rrddir, host)))
        except OSError:
            return []

    def drop_files(self, host: str, names: list[str]) -> None:
        for name in names:
            _check(name)
            self.hosts.get(host, {}).pop(name, None)
            try:
                os.unlink(os.path.join(self.rrddir, host, name))
            except OSError as e:
                log.error("droptest %s: cannot delete %s: %s", host, name, e)

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        files = self.hosts.get(host, {})
        for old, new in renames:
            _check(old)
            _check(new)
            for name in (old, new):
                f = files.pop(name, None)
                if f is not None and f.pending:
                    self._write_pending(host, f)
            src, dst = os.path.join(self.rrddir, host, old), os.path.join(self.rrddir, host, new)
            if os.path.lexists(dst):
                log.warning("renametest %s: %s exists, %s left as it is", host, new, old)
                continue
            try:
                os.rename(src, dst)
            except OSError as e:
                log.error("renametest %s: cannot rename %s to %s: %s", host, old, new, e)

    def _forget(self, host: str) -> None:
        files = self.hosts.pop(host, {})
        dropped = sum(len(f.pending) for f in files.values())
        if dropped:
            log.debug("%s: %d pending values discarded", host, dropped)


def _info(path: str) -> tuple[int, tuple[str, ...]]:
    """The last update time and the DS names (in file order) of an RRD file."""
    info = rrdtool.info(path)
    index = {k[3:-7]: v for k, v in info.items() if k.startswith("ds[") and k.endswith("].index")}
    return int(info["last_update"]), tuple(sorted(index, key=index.__getitem__))


def _ts(row: str) -> int:
    return int(row.split(":", 1)[0])


def _check(name: str) -> None:
    reason = unsafe_name(name)
    if reason:
        raise ValueError(reason)
