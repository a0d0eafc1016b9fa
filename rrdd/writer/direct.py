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

A create or write the disk refuses (no space, read-only, no permission: rrdd names the
cause, as librrd may not) keeps the file's values, within max_pending, and is tried
again from sync() after 1, 2, 4 ... 60 s, with one log line per file per 5 minutes.

Two rrdd share the directory and both get every renamehost. The one that finds the old
directory writes what it holds, has rrdcached write and forget every file in it, leaves
a mark ``.renamed/<old>`` holding the new name, and moves it. Values the other one
holds, or reads later for the old name (sent before the rename), follow the mark to the
new name when their file and its directory are gone; it is followed for an hour. Host
names starting with "." are refused, so no host can own that directory.
"""

from __future__ import annotations

import contextlib
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

from rrdd.schema import Schema, Update, unfit_for_librrd, unsafe_host, unsafe_name, unsafe_path
from rrdd.writer.creator import Creators
from rrdd.writer.store import (
    Librrd,
    Refused,
    Store,
    StoreError,
    StoreUnavailable,
    cut_short,
)
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd.writer")

CACHE_SIZE = 12  # xymond's: values per file before a write, about an hour at a 300 s step
RENAMED = ".renamed"  # in the RRD directory: a file per host renamed lately, holding the new name
RENAME_MEMORY = 3600.0  # seconds a rename mark is followed
RETRY_MAX = 60.0  # longest wait between two tries of the files the disk refused
COMPLAIN_EVERY = 300.0  # seconds between two log lines about one file the disk refuses
# librrd's words for the disk's refusals, and for a failed file operation that names none
DISK_ERRORS = (
    "No space left on device",
    "Disk quota exceeded",
    "Read-only file system",
    "Permission denied",
)
LOW_SPACE = 1 << 20  # bytes free under which a failed create or write is the disk's
NO_FILE, CUT_SHORT = "librrd made no file", "the new file was cut short (removed)"


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
        self._failed: dict[int, RrdFile] = {}  # id -> a file the disk refused, held for a retry
        self._retry_at = 0.0
        self._backoff = 1.0
        self._complained: dict[str, float] = {}  # path -> when its disk error was logged

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
        if not row.isprintable() and (reason := unfit_for_librrd(row)):
            self._refuse(host, update.rrd, f"the value {reason}")
            return
        f.last = timestamp
        if self.accepted is not None:
            self.accepted(host, update, timestamp)
        if not self.update:
            return
        full = self._unsent >= self.policy.max_pending
        if full and (self.store.batched or not f.created or id(f) in self._failed):
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
        reason = unsafe_host(host) or unsafe_name(update.rrd)
        path = os.path.join(self.rrddir, host, update.rrd)
        reason = reason or unsafe_path(path) or unfit_for_librrd(path)
        if reason:
            self._refuse(host, update.rrd, reason)
            return None
        f = RrdFile(host, update.rrd, path, test, update.schema, update.step, update.track_max)
        try:
            try:
                f.last, f.ds = self.store.info(path)
            except FileNotFoundError:
                moved = self._renamed(host)
                if moved is not None:  # by the other rrdd, after this message was sent
                    known = self.hosts.get(moved, {}).get(update.rrd)
                    return known or self._open(moved, test, timestamp, update)
                self._make(f, timestamp)
        except Refused as e:
            self._refuse(host, update.rrd, str(e))
            return None
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

    def _make(self, f: RrdFile, timestamp: int) -> None:
        """A new file; when the disk refuses it, its values wait for a retry instead."""
        try:
            self._new_file(f, timestamp)
        except Refused:
            raise  # no disk's doing
        except (OSError, StoreError) as e:
            cause = self._disk_trouble(f.path, str(e))
            if cause is None:
                raise
            f.created, f.ds = False, f.schema.names
            f.last = min(int(self.clock()), timestamp) - 10
            self._hold(f, "create", cause, str(e))

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
        broken = self._not_whole(f.path)
        if broken is not None:
            raise StoreError(broken)
        self.stats["rrd_creates"] += 1
        f.last, f.ds, f.created = max(f.last, start), f.schema.names, True

    def _create_args(self, f: RrdFile, first: int) -> tuple[int, list[str]]:
        """The start (10 s before now, or before `first` if that is earlier) and the
        arguments of rrdtool create. Raises Refused when librrd must not get one."""
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
        args = ["-b", str(start), *step, *f.schema.defs, *rras]
        for arg in args:
            reason = unfit_for_librrd(arg)
            if reason:
                raise Refused(f"the create argument {reason}")
        return start, args

    def _make_host_dir(self, host: str) -> None:
        if host not in self._host_dirs:
            os.makedirs(os.path.join(self.rrddir, host), exist_ok=True)
            self._host_dirs.add(host)

    def _take_creates(self, wait: bool = False) -> None:
        """Files the workers have made (with `wait`, all under way): their values join
        the cache's schedule."""
        if self.creators is None:
            return
        for path, error, crashed in self.creators.finished(wait):
            f = self._creating.pop(path, None)
            if f is None:
                continue
            if crashed:  # not tried again, least of all here: the crash would kill rrdd
                self._give_up(f, str(error))
                continue
            if error is None:
                error = self._not_whole(path)
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
        those the disk refused (for a retry), and those of a deleted file, which is
        made again, or followed to its host's new name."""
        refused, returned = self.store.answers()
        for path, lines in returned:
            self.stats["values_written"] -= lines.count("\n") + 1
            self._put_back(path, lines)
        by_file: dict[str, list[tuple[str, str]]] = {}
        for path, row, reason in refused:
            self.stats["values_written"] -= 1
            by_file.setdefault(path, []).append((row, reason))
        for path, rows in by_file.items():
            f = self._file_at(path)
            if not os.path.exists(path):
                if f is not None:  # else forgotten since (drophost, droptest): values too
                    self._gone(f, "\n".join(row for row, _ in rows))
                continue
            stale = "illegal attempt to update using time" in rows[0][1]  # never the disk's
            cause = None if f is None or stale else self._disk_trouble(path, rows[0][1])
            if f is not None and cause is not None:
                self._put_back(path, "\n".join(row for row, _ in rows))
                self._hold(f, "write", cause, rows[0][1])
                continue
            where = path.removeprefix(self.rrddir + "/")
            for row, reason in rows:
                if "illegal attempt to update using time" in reason:
                    # rrdcached already has a newer value (sent before a restart of rrdd).
                    self.stats["updates_dropped_old"] += 1
                    log.debug("%s: %s", where, reason)
                    continue
                self.stats["updates_rejected"] += 1
                log.warning("%s: value %.80s rejected: %s", where, row, reason)

    def _gone(self, f: RrdFile, rows: str) -> None:
        """The file of these refused rows is gone: another rrdd renamed its host (the
        rows go to the new name), or it was deleted behind rrdd's back (made again)."""
        self._put_back(f.path, rows)
        moved = self._renamed(f.host)
        if moved is not None:
            log.info(
                "%s/%s: %s was renamed %s by the other rrdd; %d values follow it",
                *(f.host, f.name, f.host, moved, rows.count("\n") + 1),
            )
            f = self._retarget(f, moved, f.name)
        else:
            log.warning("%s/%s: the file disappeared; creating it again", f.host, f.name)
            self._host_dirs.discard(f.host)  # perhaps with its directory
            f.created = False
        if not f.created:
            self._create_deferred(f)
        if f.created and not self.store.batched:
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
        if self._failed and self.monotonic() >= self._retry_at:
            self._retry()
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
        except Refused as e:  # its DS changed since it was queued (devmon, trends ...)
            self._give_up(f, str(e))
            return
        except (OSError, StoreError) as e:
            self._create_failed(f, str(e))
            return
        if f.pending and self.store.batched:
            self._dirty.append(f)  # it left the list while it could not be sent
        elif f.pending:
            f.due = self.monotonic()
            heapq.heappush(self._due, (f.due, f.host, f.name))

    def _create_failed(self, f: RrdFile, reason: str) -> None:
        moved = self._renamed(f.host)
        if moved is not None and self.hosts.get(f.host, {}).get(f.name) is f:
            f = self._retarget(f, moved, f.name)  # the other rrdd moved the directory
            if not f.created:
                self._create_deferred(f)
            return
        cause = self._disk_trouble(f.path, reason)
        if cause is not None:
            self._hold(f, "create", cause, reason)
            return
        self._give_up(f, reason)

    def _give_up(self, f: RrdFile, reason: str) -> None:
        """A file that will not be made: its values are lost, with a log line."""
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

    # --- what the disk refuses ---------------------------------------------------------

    def _disk_trouble(self, path: str, reason: str) -> str | None:
        """Why the file system refuses to create or write `path`, when it does: librrd
        may say nothing ("" for a create on a full disk) or only that a file failed."""
        where = path if os.path.exists(path) else os.path.dirname(path)
        if not os.path.isdir(where) and where != path:
            where = self.rrddir  # the host's directory is not made yet
        try:
            fs = os.statvfs(where)
        except OSError:
            return None
        if fs.f_flag & os.ST_RDONLY:
            return "read-only file system"
        if fs.f_bavail * fs.f_frsize < LOW_SPACE:
            return "no space left on device"
        if fs.f_files and not fs.f_favail:
            return "no free inodes on the file system"
        if not os.access(where, os.W_OK):
            return "permission denied"
        if reason in (NO_FILE, CUT_SHORT):  # the disk's doing, even if it has room now
            return reason
        return next((e.lower() for e in DISK_ERRORS if e in reason), None)

    def _hold(self, f: RrdFile, action: str, cause: str, reason: str) -> None:
        """Keep the values of a file whose create or write the disk refused, for sync()
        to try again; say so once per file per COMPLAIN_EVERY."""
        self.stats["disk_errors"] += 1
        if not self._failed:
            self._retry_at = self.monotonic() + self._backoff
        self._failed[id(f)] = f
        now = self.monotonic()
        if now - self._complained.get(f.path, -COMPLAIN_EVERY) < COMPLAIN_EVERY:
            return
        if len(self._complained) > 10000:
            self._complained.clear()
        self._complained[f.path] = now
        said = f" (librrd: {reason[:200]})" if reason and cause not in reason.lower() else ""
        log.error(
            "%s/%s: cannot %s %s: %s%s; its values are kept and it is tried again",
            *(f.host, f.name, action, f.path, cause, said),
        )

    def _retry(self) -> None:
        """Try the files the disk refused again; wait twice as long (up to RETRY_MAX)
        after a round in which none could be written."""
        failed, self._failed = self._failed.values(), {}
        # Not those let go since (drophost, droptest): their values went with them.
        files = [f for f in failed if self.hosts.get(f.host, {}).get(f.name) is f]
        for f in files:
            if not f.created:
                self._create_deferred(f)
            elif not self.store.batched:
                self._write([f])
        back = [f for f in files if id(f) not in self._failed]
        if back:
            self._backoff = 1.0
            for f in back:
                self._complained.pop(f.path, None)
            log.info("%d files the disk refused are written again", len(back))
        else:
            self._backoff = min(RETRY_MAX, self._backoff * 2)
        self._retry_at = self.monotonic() + self._backoff

    def _not_whole(self, path: str) -> str | None:
        """Why a file just made is no whole RRD (it is removed, to be made again), or None."""
        try:
            if not cut_short(path):
                return None
        except FileNotFoundError:
            return NO_FILE
        except OSError as e:
            return f"the new file cannot be read: {e}"
        with contextlib.suppress(OSError):
            os.unlink(path)
        return CUT_SHORT

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
            for f in [f for fs in self.hosts.values() for f in fs.values() if not f.created]:
                self._create_deferred(f)
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
            self._say_lost()
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
        self._say_lost()
        if self.creators is not None:
            self.creators.close()  # idle by now: every file under way was taken in above

    def _say_lost(self) -> None:
        lost = sum(f.count for f in self._failed.values())
        if lost:
            log.error("%d values of %d files the disk refused are lost", lost, len(self._failed))

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
    #
    # Two rrdd get each of these messages, in their own streams, and either may act
    # first: what the other did already is success. None acts through a symbolic link.

    def drop_host(self, host: str) -> None:
        self._take_creates(wait=True)  # no file in the making under what changes
        _check_host(host)
        self._forget(host)
        path = os.path.join(self.rrddir, host)
        try:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)  # the link itself, never its target
            elif os.path.isdir(path):
                self.store.forget([os.path.join(path, n) for n in os.listdir(path)])
                _remove_tree(path)
        except FileNotFoundError:
            log.debug("drophost %s: %s is gone already", host, path)
        except OSError as e:
            log.error("drophost %s: cannot delete %s: %s", host, path, e)

    def rename_host(self, old: str, new: str) -> None:
        """Write what is held for `old`, move its directory if it is still there, then
        give the values still held for its files to `new`'s files of the same name."""
        self._take_creates(wait=True)  # no file in the making under what changes
        _check_host(old)
        _check_host(new)
        if old == new:  # from the router of --workers: write what is held, let it go
            paths = self.flush(old)
            self.store.flush(paths)
            self.store.forget(paths)
            self._forget(old)
            return
        if self._linked("renamehost", old) or self._linked("renamehost", new):
            return
        self._take_answers()  # rows in flight come back under the name they went with
        if os.path.isdir(os.path.join(self.rrddir, old)):
            self._move_host(old, new)
        self._unmark(new)  # a name in use again (a rename back) leads nowhere else
        self._host_dirs.discard(old)
        held = [
            f
            for f in list(self.hosts.get(old, {}).values())
            if (f.pending or not f.created) and not os.path.lexists(f.path)
        ]
        if held:
            log.info(
                "renamehost %s -> %s: %d values held for %s go to %s",
                *(old, new, sum(f.count for f in held), old, new),
            )
        for f in held:
            self._retarget(f, new, f.name)
        self.flush(new)
        self._let_go(old)
        self._let_go(new)

    def _move_host(self, old: str, new: str) -> None:
        """Write what is held for `old` and what rrdcached holds for any of its files,
        leave the mark that leads the other rrdd to `new`, and move the directory (or
        its files, into an existing one)."""
        src, dst = os.path.join(self.rrddir, old), os.path.join(self.rrddir, new)
        self.flush(old)
        try:
            paths = [os.path.join(src, n) for n in os.listdir(src)]
        except FileNotFoundError:
            return  # moved by the other rrdd meanwhile
        paths = [p for p in paths if not os.path.islink(p)]
        # The daemon may hold values the other rrdd sent: written into the files before
        # they move, and forgotten, so that a later update of the old name is refused
        # ("No such file", then followed to the new name) instead of lost in the daemon.
        self.store.flush(paths)
        self.store.forget(paths)
        self._mark_renamed(old, new)
        try:
            if not os.path.lexists(dst):
                os.rename(src, dst)
                return
            for name in sorted(os.listdir(src)):
                if not os.path.lexists(os.path.join(dst, name)):
                    with contextlib.suppress(FileNotFoundError):  # the other rrdd moved it
                        os.rename(os.path.join(src, name), os.path.join(dst, name))
            kept = sorted(os.listdir(src))
            if kept:
                log.warning(
                    "renamehost %s -> %s: %s exists; kept %d files in %s that both have: %s",
                    *(old, new, dst, len(kept), src, ", ".join(kept)),
                )
            else:
                os.rmdir(src)
        except FileNotFoundError:
            log.debug("renamehost %s -> %s: moved by the other rrdd meanwhile", old, new)
        except OSError as e:
            log.error("renamehost %s -> %s: %s", old, new, e)
            if os.path.isdir(src) and not os.path.isdir(dst):
                self._unmark(old)

    def _retarget(self, f: RrdFile, host: str, name: str) -> RrdFile:
        """Give a file's held values to another file (the same name under a new host
        name, or a new name for a renamed test): its record moves there, or its rows
        join the record already there. Returns the record that holds them."""
        files = self.hosts.get(f.host)
        if files is not None and files.get(f.name) is f:
            del files[f.name]
            if not files:
                del self.hosts[f.host]
        path = os.path.join(self.rrddir, host, name)
        into = self.hosts.get(host, {}).get(name)
        if into is None:
            f.host, f.name, f.path = host, name, path
            if not f.created and os.path.lexists(path):
                f.created = True  # the file moved there: never made over it
            self.hosts.setdefault(host, {})[name] = f
            into = f
        else:
            self._tracked -= 1
            if into.ds != f.ds:
                log.warning(
                    "%s/%s: %d values held for %s/%s dropped: the files have other DS",
                    *(host, name, f.count, f.host, f.name),
                )
                self.stats["updates_rejected"] += f.count
                self._discard(f)
                return into
            if f.pending and not into.pending and self.store.batched:
                self._dirty.append(into)
            rows = [r for text in (into.pending, f.pending) if text for r in text.split("\n")]
            rows.sort(key=lambda row: int(row.split(":", 1)[0]))
            into.pending, into.count = "\n".join(rows), into.count + f.count
            into.last = max(into.last, f.last)
            f.pending, f.count = "", 0
        if into.pending and into.created and not self.store.batched:
            self._schedule(into)  # under its new name: the old one's turn finds nothing
        return into

    def _let_go(self, host: str) -> None:
        """Forget the records of a host's files that hold nothing; they are read again
        when next updated."""
        files = self.hosts.get(host, {})
        for name in [n for n, f in files.items() if not f.pending and f.created]:
            del files[name]
            self._tracked -= 1
        if not files:
            self.hosts.pop(host, None)

    def _mark_renamed(self, old: str, new: str) -> None:
        """Leave `new` in .renamed/<old> for the other rrdd (see _renamed), replacing any
        mark there at once; marks older than RENAME_MEMORY are removed."""
        marks = os.path.join(self.rrddir, RENAMED)
        try:
            os.makedirs(marks, exist_ok=True)
            for entry in os.scandir(marks):
                with contextlib.suppress(FileNotFoundError):  # the other rrdd's sweep
                    if time.time() - entry.stat(follow_symlinks=False).st_mtime > RENAME_MEMORY:
                        os.unlink(entry.path)
            temp = os.path.join(marks, f".{os.getpid()}")
            with open(temp, "w", encoding="utf-8") as out:
                out.write(f"{new}\n")
            os.replace(temp, os.path.join(marks, old))
        except OSError as e:
            log.warning("renamehost %s -> %s: cannot leave a mark in %s: %s", old, new, marks, e)

    def _unmark(self, host: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.rrddir, RENAMED, host))

    def _renamed(self, host: str) -> str | None:
        """The host's new name, when its directory is gone because an rrdd renamed it
        less than RENAME_MEMORY ago (following renames in a row); else None. Asked when
        a file is missing, never per update."""
        name, seen = host, {host}
        while not os.path.isdir(os.path.join(self.rrddir, name)):
            mark = os.path.join(self.rrddir, RENAMED, name)
            try:
                if time.time() - os.stat(mark).st_mtime > RENAME_MEMORY:
                    break
                with open(mark, encoding="utf-8") as text:
                    new = text.read().strip()
            except (OSError, UnicodeDecodeError):
                break
            if unsafe_host(new) or new in seen:
                return None  # not a mark rrdd wrote, or renames in a circle
            seen.add(new)
            name = new
        return None if name == host else name

    def _linked(self, what: str, host: str) -> bool:
        path = os.path.join(self.rrddir, host)
        if not os.path.islink(path):
            return False
        log.warning("%s %s: %s is a symbolic link, which rrdd does not follow", what, host, path)
        return True

    def host_files(self, host: str) -> list[str]:
        """The files in the host's directory, and those rrdd holds values for: not made
        yet, or renamed by the other rrdd (their values follow, see rename_files)."""
        _check_host(host)
        self._take_creates(wait=True)  # every file in the making is listed
        path = os.path.join(self.rrddir, host)
        if os.path.islink(path):
            return []  # drop_files and rename_files say why
        held = {n for n, f in self.hosts.get(host, {}).items() if f.pending or not f.created}
        try:
            return sorted(held.union(os.listdir(path)))
        except OSError:
            return sorted(held)

    def drop_files(self, host: str, names: list[str]) -> None:
        self._take_creates(wait=True)  # no file in the making under what changes
        _check_host(host)
        if self._linked("droptest", host):
            return
        for name in names:
            _check(name)
            path = os.path.join(self.rrddir, host, name)
            if os.path.islink(path):
                log.warning("droptest %s: %s is a symbolic link; left alone", host, name)
                continue
            f = self.hosts.get(host, {}).pop(name, None)
            if f is not None:
                self._tracked -= 1
                self._discard(f)
                self._dirty = [d for d in self._dirty if d is not f]
            self.store.forget([path])
            try:
                os.unlink(path)
            except FileNotFoundError:
                log.debug("droptest %s: %s is gone already", host, name)
            except OSError as e:
                log.error("droptest %s: cannot delete %s: %s", host, name, e)

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        """Rename files of a host; values held for a file renamed (here or by the other
        rrdd) go to its new name."""
        self._take_creates(wait=True)  # no file in the making under what changes
        _check_host(host)
        if self._linked("renametest", host):
            return
        self._take_answers()  # rows in flight come back under the name they went with
        for old, new in renames:
            _check(old)
            _check(new)
            src, dst = os.path.join(self.rrddir, host, old), os.path.join(self.rrddir, host, new)
            if os.path.islink(src):
                log.warning("renametest %s: %s is a symbolic link; left alone", host, old)
                continue
            if os.path.lexists(src):
                if os.path.lexists(dst):
                    log.warning("renametest %s: %s exists, %s left as it is", host, new, old)
                    continue
                paths = self.flush(host, old)
                self.store.flush(paths)
                self.store.forget(paths)
                try:
                    os.rename(src, dst)
                except FileNotFoundError:
                    log.debug("renametest %s: %s renamed by the other rrdd meanwhile", host, old)
                except OSError as e:
                    log.error("renametest %s: cannot rename %s to %s: %s", host, old, new, e)
                    continue
            f = self.hosts.get(host, {}).get(old)
            if f is not None and (f.pending or not f.created) and not os.path.lexists(src):
                self._retarget(f, host, new)
        self.flush(host)
        self._let_go(host)

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


def _check_host(host: str) -> None:
    reason = unsafe_host(host)
    if reason:
        raise ValueError(reason)


def _remove_tree(path: str) -> None:
    """shutil.rmtree, while the other rrdd may be deleting the same tree: what it
    removed first is no error."""
    for _ in range(10):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            if not os.path.lexists(path):
                return
    shutil.rmtree(path)
