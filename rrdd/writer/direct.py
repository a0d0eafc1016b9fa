"""The writer: RRD files per host, the update cache and its policy, over a store.

Files live at ``<rrddir>/<host>/<rrd>``. A missing file is created on its first update
(even with --no-rrd, as xymond_rrd does) with start = min(now, first update) - 10 s, so a
live stream gives xymond's files exactly and a replayed backlog is not rejected. In
direct mode, worker processes (`Creators`) may make new files while rrdd reads on; the
values of a file in the making wait in the cache like those of any other.

A value not newer than the newest one its file has is dropped and counted before it
reaches librrd. Accepted values wait in a per-file cache. With librrd (the direct
store) a file is written when it has `batch` values, when its oldest value is older
than `max_age` (plus a random part of up to `jitter` of it, so files do not all come
due together), on flush() and at close(); `writes_per_second` caps the writes that
are not asked for, and `creates_per_second` the creations (the values of a file not yet
created wait for it). With rrdcached every value goes to the daemon at each sync().
A value librrd or rrdcached refuses is logged and counted; the others are written.
"""

from __future__ import annotations

import heapq
import logging
import os
import random
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rrdd.schema import Schema, Update, unsafe_name, unsafe_path
from rrdd.writer.creator import Creators
from rrdd.writer.store import Librrd, Store, StoreError, StoreUnavailable
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd.writer")

CACHE_SIZE = 12  # xymond's: values per file before a write, about an hour at a 300 s step


@dataclass
class CachePolicy:
    batch: int = CACHE_SIZE
    max_age: float = 3600.0  # seconds a value may wait
    jitter: float = 0.2  # up to this share of max_age is added at random, per file
    writes_per_second: float = 0.0  # 0: no ceiling
    creates_per_second: float = 0.0  # 0: no ceiling
    max_pending: int = 2_000_000  # values held at most; then written at once, or shed
    max_files: int = 1_000_000  # files remembered; beyond it, idle ones are forgotten


@dataclass(slots=True)
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
    created: bool = True  # False while its creation waits for the create ceiling
    due: float = 0.0  # when its oldest pending value is too old (monotonic)


class DirectWriter:
    def __init__(
        self,
        rrddir: Path,
        rras: RraDefinitions,
        stats: Counter[str],
        *,
        store: Store | None = None,
        cache: bool = True,
        update: bool = True,
        policy: CachePolicy | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        accepted: Callable[[str, Update, int], None] | None = None,
        observe: Callable[[float], None] | None = None,
        progress: Callable[[str], object] | None = None,
        creators: Creators | None = None,
    ):
        self.rrddir = str(rrddir)
        self.rras = rras
        self.stats = stats
        self.store: Store = store or Librrd()
        self.cache = cache
        self.update = update
        self.policy = policy or CachePolicy()
        self.clock = clock
        self.monotonic = monotonic
        self.accepted = accepted  # sees every update that passed the time checks (--processor)
        self.observe = observe  # gets the duration of each write to the store (metrics)
        self.progress = progress  # gets a line of progress during a long shutdown (systemd)
        self.creators = creators  # worker processes that create files (direct mode)
        self._creating: dict[str, RrdFile] = {}  # path -> file a worker is making
        self.hosts: dict[str, dict[str, RrdFile]] = {}
        self._refused: set[tuple[str, str]] = set()
        self._due: list[tuple[float, str, str]] = []  # (due, host, name): a heap
        self._ready: deque[RrdFile] = deque()  # full files waiting for the write ceiling
        self._uncreated: deque[RrdFile] = deque()  # files waiting for the create ceiling
        self._write_budget = self._create_budget = 0.0
        self._budget_time = monotonic()
        self._unsent = 0  # values accepted and not yet handed to the store
        self._dirty: list[RrdFile] = []  # files with values for a batched store (rrdcached)
        self._shed_logged = -60.0
        self._tracked = 0  # RrdFile records held
        self._host_dirs: set[str] = set()  # host directories made or found since start

    # --- the update path -------------------------------------------------------------

    def write(self, host: str, test: str, timestamp: int, update: Update) -> None:
        files = self.hosts.get(host)
        f = files.get(update.rrd) if files is not None else None
        if f is None:
            f = self._open(host, test, timestamp, update)
            if f is None:
                return
        if update.schema is not f.schema and update.schema.template != f.schema.template:
            self._fit(f, update.schema)
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
        values = update.values
        if f.order is not None:
            values = tuple("U" if i is None else values[i] for i in f.order)
        row = ":".join((str(timestamp), *values))
        if not row.isprintable():  # NUL, control bytes or undecodable input
            self._refuse(host, update.rrd, f"unprintable value {row[:80]!r}")
            return
        f.last = timestamp
        if self.accepted is not None:
            self.accepted(host, update, timestamp)
        if not self.update:
            return
        full = self._unsent >= self.policy.max_pending
        if full and (self.store.batched or not f.created):
            self._shed()
            return
        f.pending = f"{f.pending}\n{row}" if f.pending else row
        f.count += 1
        self._unsent += 1
        if full:  # direct mode: write this file now instead of holding more
            self._write([f])
            return
        if self.store.batched:
            if f.count == 1:
                self._dirty.append(f)
            return
        if not f.created:
            return
        if not self.cache:
            self._write([f])
        elif f.count == 1:
            self._schedule(f)
        elif f.count == self.policy.batch:
            self._full(f)

    def _forget_idle(self) -> None:
        """Bound the memory a flood of new hosts takes: drop the records of files with
        nothing pending (about 700 bytes each); they are read again when next updated."""
        for host in list(self.hosts):
            files = self.hosts[host]
            for name in [n for n, f in files.items() if not f.pending and f.created]:
                del files[name]
            if not files:
                del self.hosts[host]
        self._tracked = sum(len(files) for files in self.hosts.values())
        self.stats["file_records_dropped"] += 1
        log.info(
            "Over %d files tracked: idle ones forgotten, %d remain",
            self.policy.max_files,
            self._tracked,
        )

    def _shed(self) -> None:
        """The cache holds max_pending values that cannot be written now (rrdcached is
        away, or files wait for the create ceiling): drop the value, count it, say so."""
        self.stats["values_shed"] += 1
        now = self.monotonic()
        if now - self._shed_logged > 60:
            self._shed_logged = now
            log.error(
                "The cache is full (%d values): new values are shed until it drains", self._unsent
            )

    def _open(self, host: str, test: str, timestamp: int, update: Update) -> RrdFile | None:
        reason = unsafe_name(host) or unsafe_name(update.rrd)
        path = os.path.join(self.rrddir, host, update.rrd)
        reason = reason or unsafe_path(path)
        if reason:
            self._refuse(host, update.rrd, reason)
            return None
        f = RrdFile(host, update.rrd, path, test, update.schema, update.step, update.track_max)
        try:
            try:
                f.last, f.ds = self.store.info(path)
            except FileNotFoundError:
                self._new_file(f, timestamp)
        except (OSError, StoreError) as e:
            self.stats["rrd_open_errors"] += 1
            log.error("%s/%s: cannot use %s: %s", host, update.rrd, path, e)
            return None
        self._fit(f, update.schema)
        if self._tracked >= self.policy.max_files:
            self._forget_idle()
        self.hosts.setdefault(host, {})[update.rrd] = f
        self._tracked += 1
        return f

    def _new_file(self, f: RrdFile, timestamp: int) -> None:
        """Create a file now or in a worker, or queue it when the create ceiling is reached."""
        if not self._may_create():
            f.created, f.ds = False, f.schema.names
            f.last = min(int(self.clock()), timestamp) - 10
            self._uncreated.append(f)
            self.stats["creates_deferred"] += 1
        elif self.creators is None:
            self._create(f, timestamp)
        else:
            start, args = self._create_args(f, timestamp)
            self._make_host_dir(f.host)
            self.creators.submit(f.path, args)
            self._creating[f.path] = f
            f.created, f.ds, f.last = False, f.schema.names, max(f.last, start)

    def _create(self, f: RrdFile, first: int) -> None:
        """Create the file in this process."""
        start, args = self._create_args(f, first)
        self._make_host_dir(f.host)
        self.store.create(f.path, args)
        self.stats["rrd_creates"] += 1
        f.last, f.ds, f.created = max(f.last, start), f.schema.names, True

    def _create_args(self, f: RrdFile, first: int) -> tuple[int, list[str]]:
        """The start (10 s before now, or before `first` if that is earlier) and the
        arguments of rrdtool create."""
        start = min(int(self.clock()), first) - 10
        rras = self.rras.lookup(f.test, f.step)
        if f.track_max:  # TRACKMAX: a MAX RRA beside each AVERAGE one
            rras = (
                *rras,
                *(
                    r.replace("RRA:AVERAGE:", "RRA:MAX:", 1)
                    for r in rras
                    if r.startswith("RRA:AVERAGE:")
                ),
            )
        step = [] if any(a.startswith(("-s", "--step")) for a in rras) else ["-s", str(f.step)]
        return start, ["-b", str(start), *step, *f.schema.defs, *rras]

    def _make_host_dir(self, host: str) -> None:
        if host not in self._host_dirs:
            os.makedirs(os.path.join(self.rrddir, host), exist_ok=True)
            self._host_dirs.add(host)

    def _take_creates(self, wait: bool = False) -> None:
        """Files the workers have made (with `wait`, all under way): their values join
        the cache's schedule."""
        if self.creators is None:
            return
        for path, error in self.creators.finished(wait):
            f = self._creating.pop(path, None)
            if f is None:
                continue
            if error is not None:
                self._create_failed(f, error)
                continue
            f.created = True
            self.stats["rrd_creates"] += 1
            if not self.cache:
                self._write([f])
            elif f.count >= self.policy.batch:
                self._full(f)
            elif f.pending:
                self._schedule(f)

    def _full(self, f: RrdFile) -> None:
        """A file has a batch of values: write it, or queue it under the write ceiling."""
        if self.policy.writes_per_second:
            self._ready.append(f)
        else:
            self._write([f])

    def _schedule(self, f: RrdFile) -> None:
        """The file's oldest pending value arrived now: when it must be written."""
        f.due = self.monotonic() + self.policy.max_age * (1 + random.random() * self.policy.jitter)
        heapq.heappush(self._due, (f.due, f.host, f.name))

    def _fit(self, f: RrdFile, schema: Schema) -> None:
        """Values go to their own DS of the file, or nowhere (with one log line).

        Handlers that take their DS list from the message (ncv, trends, devmon) can send one
        that differs from the file's. DS of the file the update lacks get U.
        """
        f.schema = schema
        if schema.names == f.ds:
            f.order = None
            return
        index = {n: i for i, n in enumerate(schema.names)}
        f.order = tuple(index.get(n) for n in f.ds)
        missing = [n for n in schema.names if n not in f.ds]
        if missing:
            self.stats["ds_mismatches"] += 1
            log.warning(
                "%s/%s: the file has no DS %s, so those values are dropped (it has: %s)",
                f.host,
                f.name,
                ", ".join(missing),
                ", ".join(f.ds),
            )

    def _refuse(self, host: str, rrd: str, reason: str) -> None:
        self.stats["updates_refused"] += 1
        if (host, rrd) not in self._refused:
            if len(self._refused) > 10000:
                self._refused.clear()
            self._refused.add((host, rrd))
            log.warning("%.100s/%.100s: refused: %s", host, rrd, reason)

    # --- writing ---------------------------------------------------------------------

    def _write(self, files: Sequence[RrdFile], wait: bool = True) -> bool:
        """Hand the pending values of these files to the store; False if it is unreachable.

        With `wait`, what the store said of them is taken in before returning; without
        (rrdcached, between reads), at the next sync.
        """
        # A file can be queued twice (values, then a put-back): it goes once.
        batch = list({id(f): f for f in files if f.pending and f.created}.values())
        started = self.monotonic()
        if batch:
            try:
                self.store.send([(f.path, f.pending) for f in batch])
            except StoreUnavailable:
                return False
        if self.observe is not None and batch:
            self.observe(self.monotonic() - started)
        written = sum([f.count for f in batch])
        self._unsent -= written
        self.stats["values_written"] += written
        self.stats["rrd_writes"] += len(batch)
        for f in batch:
            f.pending, f.count = "", 0
        if wait:
            self._take_answers()
        return True

    def _take_answers(self) -> None:
        """Count and log the values the store refused; take back those to send again,
        and make deleted files again."""
        refused, returned = self.store.answers()
        for path, lines in returned:
            self.stats["values_written"] -= lines.count("\n") + 1
            self._put_back(path, lines)
        gone: dict[str, list[str]] = {}
        for path, row, reason in refused:
            self.stats["values_written"] -= 1
            if path in gone or not os.path.exists(path):
                gone.setdefault(path, []).append(row)  # deleted behind our back
                continue
            where = path.removeprefix(self.rrddir + "/")
            if "illegal attempt to update using time" in reason:
                # rrdcached already has a newer value (sent before a restart of rrdd).
                self.stats["updates_dropped_old"] += 1
                log.debug("%s: %s", where, reason)
                continue
            self.stats["updates_rejected"] += 1
            log.warning("%s: value %.80s rejected: %s", where, row, reason)
        for path, rows in gone.items():
            f = self._file_at(path)
            if f is None:
                continue  # forgotten since (drophost, droptest): its values with it
            log.warning("%s/%s: the file disappeared; creating it again", f.host, f.name)
            self._host_dirs.discard(f.host)  # perhaps with its directory
            try:
                self._create(f, int(rows[0].split(":", 1)[0]))
            except (OSError, StoreError) as e:
                log.error("%s/%s: %d values lost: %s", f.host, f.name, len(rows), e)
                self.stats["updates_rejected"] += len(rows)
                continue
            self._put_back(path, "\n".join(rows))
            if not self.store.batched:
                self._write([f])

    def _put_back(self, path: str, rows: str) -> None:
        """Rows sent (one per line) that must go again, ahead of the file's newer values."""
        f = self._file_at(path)
        if f is None:
            return
        if not f.pending and self.store.batched:
            self._dirty.append(f)
        f.pending = f"{rows}\n{f.pending}" if f.pending else rows
        count = rows.count("\n") + 1
        f.count += count
        self._unsent += count

    def _file_at(self, path: str) -> RrdFile | None:
        host, _, name = path.removeprefix(self.rrddir + "/").partition("/")
        return self.hosts.get(host, {}).get(name)

    def sync(self) -> None:
        """Between reads: send values to rrdcached, or write what is due in direct mode."""
        if self.store.batched:
            self._send_dirty(wait=False)
            return
        self._take_creates()
        now = self.monotonic()
        self._refill(now)
        while self._uncreated and self._may_create():
            waiting = self._uncreated.popleft()
            if self.hosts.get(waiting.host, {}).get(waiting.name) is waiting:
                self._create_deferred(waiting)
        while self._due and self._due[0][0] <= now:
            due, host, name = heapq.heappop(self._due)
            f = self.hosts.get(host, {}).get(name)
            if f is not None and f.pending and f.due == due:
                self._ready.append(f)
        while self._ready and self._may_write():
            self._write([self._ready.popleft()])

    def _send_dirty(self, wait: bool) -> bool:
        """rrdcached: take the answer to the batch sent last, then send the values that
        came since; False if the daemon is unreachable (the values stay here)."""
        self._take_answers()
        dirty, self._dirty = self._dirty, []
        sent = self._write(dirty, wait=wait)
        if not sent:
            self._dirty = dirty + self._dirty
        return sent

    def _create_deferred(self, f: RrdFile) -> None:
        try:
            self._create(f, int(f.pending.split(":", 1)[0]) if f.pending else f.last)
        except (OSError, StoreError) as e:
            self._create_failed(f, str(e))
            return
        if f.pending:
            f.due = self.monotonic()
            heapq.heappush(self._due, (f.due, f.host, f.name))

    def _create_failed(self, f: RrdFile, reason: str) -> None:
        log.error(
            "%s/%s: cannot create %s, %d values lost: %s",
            *(f.host, f.name, f.path, f.count, reason),
        )
        self.stats["updates_rejected"] += f.count
        self._discard(f)
        if self.hosts.get(f.host, {}).pop(f.name, None) is not None:
            self._tracked -= 1

    def _discard(self, f: RrdFile) -> None:
        """Drop a file's pending values. A record let go may still sit in a queue (ready,
        due): with nothing pending it writes nothing there."""
        self._unsent -= f.count
        f.pending, f.count = "", 0

    def _refill(self, now: float) -> None:
        elapsed, self._budget_time = now - self._budget_time, now
        p = self.policy
        self._write_budget = min(
            p.writes_per_second, self._write_budget + elapsed * p.writes_per_second
        )
        self._create_budget = min(
            p.creates_per_second, self._create_budget + elapsed * p.creates_per_second
        )

    def _may_write(self) -> bool:
        if not self.policy.writes_per_second:
            return True
        if self._write_budget < 1:
            return False
        self._write_budget -= 1
        return True

    def _may_create(self) -> bool:
        if not self.policy.creates_per_second:
            return True
        self._refill(self.monotonic())
        if self._create_budget < 1:
            return False
        self._create_budget -= 1
        return True

    def reconfigure(self, rras: RraDefinitions, policy: CachePolicy) -> None:
        self.rras, self.policy = rras, policy

    def pending(self) -> int:
        return self._unsent

    def pending_files(self) -> int:
        """Files with values not yet written (read from the metrics thread: copies first)."""
        return sum(
            1 for files in list(self.hosts.values()) for f in list(files.values()) if f.pending
        )

    def flush(
        self, host: str | None = None, name: str | None = None, to_disk: bool = False
    ) -> list[str]:
        """Write now (no ceiling) every pending value of a host, or of one file, or of all.

        With `to_disk`, rrdcached is asked to write them to the files as well (FLUSH).
        Returns the paths of the files.
        """
        self._take_creates(wait=True)
        hosts = [host] if host is not None else list(self.hosts)
        files = [
            f
            for h in hosts
            for f in self.hosts.get(h, {}).values()
            if name is None or f.name == name
        ]
        for f in files:
            if not f.created:
                self._create_deferred(f)
        if not self._write(files):
            log.error("rrdcached is unreachable; %d values wait in rrdd", self._unsent)
        paths = [f.path for f in files]
        if to_disk:
            self.store.flush(paths)
        return paths

    def close(self, patience: float = 10.0) -> None:
        """Write everything in one pass, with progress in the log for long flushes.

        With rrdcached, an unreachable daemon is tried again for `patience` seconds.
        """
        self._take_creates(wait=True)
        if self.store.batched:
            deadline = self.monotonic() + patience
            while True:
                sent = self._send_dirty(wait=True)
                if sent and not self._dirty:
                    break
                if self.monotonic() > deadline:
                    log.error("rrdcached is unreachable: %d values are lost", self._unsent)
                    break
                if not sent:
                    time.sleep(0.2)
            self.store.close()
            return
        files = [f for fs in self.hosts.values() for f in fs.values() if f.pending]
        total, started, shown = len(files), self.monotonic(), self.monotonic()
        for done in range(0, total, 500):
            chunk = files[done : done + 500]
            for f in chunk:
                if not f.created:
                    self._create_deferred(f)
            self._write(chunk)
            if self.monotonic() - shown > 5:
                shown = self.monotonic()
                text = f"Flushed {min(done + 500, total)} of {total} files"
                log.info("%s", text)
                if self.progress is not None:
                    self.progress(text)
        if total:
            log.info("Flushed %d files in %.1f s", total, self.monotonic() - started)
        self.store.close()
        if self.creators is not None:
            self.creators.close()  # idle by now: every file under way was taken in above

    def existing_ds(self, host: str, rrd: str) -> tuple[str, ...] | None:
        """The DS names of a host's RRD file, or None when it does not exist (or is unsafe)."""
        known = self.hosts.get(host, {}).get(rrd)
        if known is not None:
            return known.ds
        if unsafe_name(host) or unsafe_name(rrd):
            return None
        path = os.path.join(self.rrddir, host, rrd)
        try:
            return self.store.info(path)[1] if os.path.exists(path) else None
        except StoreError:
            return None

    # --- host and test maintenance (drophost, renamehost, droptest, renametest) -------

    def drop_host(self, host: str) -> None:
        self._take_creates(wait=True)  # no file in the making under what changes
        _check(host)
        self._forget(host)
        path = os.path.join(self.rrddir, host)
        try:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)
            elif os.path.isdir(path):
                self.store.forget([os.path.join(path, n) for n in os.listdir(path)])
                shutil.rmtree(path)
        except OSError as e:
            log.error("drophost %s: cannot delete %s: %s", host, path, e)

    def rename_host(self, old: str, new: str) -> None:
        _check(old)
        _check(new)
        for host in (old, new):
            paths = self.flush(host)
            self.store.flush(paths)
            self.store.forget(paths)
            self._forget(host)
        if old == new:
            return  # nothing moves: what was held is written and forgotten
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
        self._take_creates(wait=True)  # every file in the making is listed
        try:
            return sorted(os.listdir(os.path.join(self.rrddir, host)))
        except OSError:
            return []

    def drop_files(self, host: str, names: list[str]) -> None:
        self._take_creates(wait=True)  # no file in the making under what changes
        for name in names:
            _check(name)
            f = self.hosts.get(host, {}).pop(name, None)
            if f is not None:
                self._tracked -= 1
                self._discard(f)
                self._dirty = [d for d in self._dirty if d is not f]
            path = os.path.join(self.rrddir, host, name)
            self.store.forget([path])
            try:
                os.unlink(path)
            except OSError as e:
                log.error("droptest %s: cannot delete %s: %s", host, name, e)

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        self._take_creates(wait=True)  # no file in the making under what changes
        for old, new in renames:
            _check(old)
            _check(new)
            self.store.flush(self.flush(host, old) + self.flush(host, new))
            for name in (old, new):
                if self.hosts.get(host, {}).pop(name, None) is not None:
                    self._tracked -= 1
            src, dst = os.path.join(self.rrddir, host, old), os.path.join(self.rrddir, host, new)
            if os.path.lexists(dst):
                log.warning("renametest %s: %s exists, %s left as it is", host, new, old)
                continue
            try:
                os.rename(src, dst)
            except OSError as e:
                log.error("renametest %s: cannot rename %s to %s: %s", host, old, new, e)

    def _forget(self, host: str) -> None:
        self._host_dirs.discard(host)
        files = self.hosts.pop(host, {})
        self._tracked -= len(files)
        dropped = sum(f.count for f in files.values())
        for f in files.values():
            self._discard(f)
        self._dirty = [f for f in self._dirty if f.host != host]
        if dropped:
            log.info("%s: %d pending values discarded", host, dropped)


def _check(name: str) -> None:
    reason = unsafe_name(name)
    if reason:
        raise ValueError(reason)
