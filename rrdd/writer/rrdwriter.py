"""The writer: updates in, RRD files out, through a store (librrd or rrdcached).

Files live at ``<rrddir>/<host>/<rrd>``. The path of one update::

    write()  the file's record (table.py; opened, or made by making.py, on first sight)
             -> a value not newer than the file's newest is dropped and counted
             -> its row is checked and kept in the record
             -> the schedule (schedule.py) says whether to write the file now
    sync()   between reads: the files the schedule says are due go to the store
             (store.py, rrdcached.py); its answers come back through _take_answers

A value librrd or rrdcached refuses is reported (problems.py: counted, logged, kept for
rrdd web), as is every other value not stored; the others are written. A create or
write the disk refuses keeps the file's values for a retry (disk.py). A file
found missing (another rrdd renamed or dropped its host or test: marks.py) has its
values follow the rename, let go, or its file made again. drophost, renamehost,
droptest and renametest are hosts.py's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rrdd.events import Counts, Event
from rrdd.problems import Problem, Problems
from rrdd.schema import Update, unfit_for_librrd, unsafe_host, unsafe_name, unsafe_path
from rrdd.writer.creator import Creators
from rrdd.writer.disk import Disk
from rrdd.writer.hosts import HostOps
from rrdd.writer.making import NO_FILE, Making
from rrdd.writer.marks import Marks
from rrdd.writer.schedule import CachePolicy, Schedule, schedule_for
from rrdd.writer.store import Librrd, Refused, Store, StoreError, StoreUnavailable
from rrdd.writer.table import FileTable, RrdFile, State, fit
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd.writer")

SHUTDOWN_CHUNK = 500  # files written between two progress checks at shutdown
OLD = Event.UPDATES_DROPPED_OLD  # looked up once: a restart brings thousands


class RrdWriter:
    def __init__(
        self,
        rrddir: Path,
        rras: RraDefinitions,
        counts: Counts,
        *,
        problems: Problems | None = None,
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
        self.counts = counts
        self.problems = problems or Problems(counts, monotonic=monotonic)
        self.store: Store = store or Librrd()
        self.cache = cache
        self.update = update
        self.policy = policy or CachePolicy()
        self.clock, self.monotonic = clock, monotonic
        self.accepted = accepted  # sees every update that passed the time checks (--processor)
        self.observe = observe  # gets the duration of each write to the store (metrics)
        self.progress = progress  # gets a line of progress during a long shutdown (systemd)
        self.table = FileTable(self.rrddir, self.policy.max_files, counts)
        self.schedule: Schedule = schedule_for(self.policy, self.store.batched, cache, monotonic)
        self.making = Making(
            self.rrddir,
            rras,
            self.store,
            creators,
            self.policy.creates_per_second,
            clock,
            monotonic,
        )
        self.disk = Disk(self.rrddir, self.problems, monotonic)
        self.marks = Marks(self.rrddir)
        self.maintenance = HostOps(self)

    # --- the update path -------------------------------------------------------------

    def write(self, host: str, test: str, timestamp: int, update: Update) -> None:
        f = self.table.get(host, update.rrd)
        if f is None:
            f = self._open(host, test, timestamp, update)
            if f is None:
                return
        order = f.order
        if update.schema is not f.schema and update.schema.template != f.schema.template:
            order = self._fit(f, update)
        if timestamp <= f.last:
            why = f"update at {timestamp} dropped: the file has {f.last} already"
            self.problems.report(Problem(OLD, host, test, update.rrd, why))
            return
        values = update.values
        if order is not None:
            values = tuple("U" if i is None else values[i] for i in order)
        row = ":".join((str(timestamp), *values))
        if not row.isprintable() and (unfit := unfit_for_librrd(row)):
            self._refuse(host, test, update.rrd, f"the value {unfit}")
            return
        f.last = timestamp
        if self.accepted is not None:
            self.accepted(host, update, timestamp)
        if not self.update:
            return
        full = self.table.pending >= self.policy.max_pending
        if full and (self.store.batched or not f.made or self.disk.holds(f)):
            self._shed(f)
            return
        self.table.append(f, row)
        # A full cache in direct mode writes this file now instead of holding more.
        if full or (f.made and self.schedule.added(f)):
            self._write([f])

    def _open(self, host: str, test: str, timestamp: int, update: Update) -> RrdFile | None:
        reason = unsafe_host(host) or unsafe_name(update.rrd)
        path = self.table.path(host, update.rrd)
        reason = reason or unsafe_path(path) or unfit_for_librrd(path)
        if reason:
            self._refuse(host, test, update.rrd, reason)
            return None
        f = RrdFile(host, update.rrd, path, test, update.schema, update.step, update.track_max)
        try:
            try:
                f.last, f.ds = self.store.info(path)
            except FileNotFoundError:
                moved = self.marks.new_name(host)
                if moved is not None:  # by the other rrdd, after this message was sent
                    known = self.table.get(moved, update.rrd)
                    return known or self._open(moved, test, timestamp, update)
                name = self.marks.new_file_name(host, update.rrd)
                if name is not None:  # the same, by a renametest
                    known = self.table.get(host, name)
                    return known or self._open(host, test, timestamp, update._replace(rrd=name))
                if self.marks.dropped_by_other(host):
                    self.counts.add(Event.VALUES_OF_DROPPED_HOSTS)
                    return None
                self._make(f, timestamp)
        except Refused as e:
            self._refuse(host, test, update.rrd, str(e))
            return None
        except (OSError, StoreError) as e:
            reason = f"cannot use {path}: {e}"
            self.problems.report(Problem(Event.RRD_OPEN_ERRORS, host, test, update.rrd, reason))
            return None
        self._fit(f, update)
        self.table.add(f)
        return f

    def _make(self, f: RrdFile, timestamp: int) -> None:
        """A new file; when the disk refuses it, its values wait for a retry instead."""
        try:
            if self.making.start(f, timestamp):
                self.counts.add(Event.RRD_CREATES)
            elif f.state is State.WAITING:
                self.counts.add(Event.CREATES_DEFERRED)
        except Refused:
            raise  # no disk's doing
        except (OSError, StoreError) as e:
            cause = self._disk_cause(f.path, str(e))
            if cause is None:
                raise
            f.state, f.ds = State.WAITING, f.schema.names
            f.last = min(int(self.clock()), timestamp) - 10
            self.disk.hold(f, "create", cause, str(e))

    def _fit(self, f: RrdFile, update: Update) -> tuple[int | None, ...] | None:
        """Where the file's DS find their values in this update (table.fit). A file not
        made yet keeps its DS list, which its held rows follow and it is made with: it
        fits this update alone."""
        if f.made:
            missing, order = f.fit(update.schema), f.order
        else:
            order, missing = fit(update.schema, f.ds)
        if missing:
            reason = (
                f"the file has no DS {', '.join(missing)}, so those values are dropped "
                f"(it has: {', '.join(f.ds)})"
            )
            self.problems.report(Problem(Event.DS_MISMATCHES, f.host, f.test, f.name, reason))
        return order

    def _refuse(self, host: str, test: str, rrd: str, reason: str) -> None:
        self.problems.report(Problem(Event.UPDATES_REFUSED, host, test, rrd, f"refused: {reason}"))

    def _shed(self, f: RrdFile) -> None:
        """The cache holds max_pending values that cannot be written now (rrdcached is
        away, or files wait to be made): the value is dropped."""
        reason = (
            f"the cache is full ({self.table.pending} values): new values are shed until it drains"
        )
        self.problems.report(Problem(Event.VALUES_SHED, f.host, f.test, f.name, reason))

    # --- files made --------------------------------------------------------------------

    def take_made(self, wait: bool = False) -> None:
        """Files the creator processes have made (with `wait`, all under way): their
        values get their turn."""
        for f, error, crashed in self.making.finished(wait):
            if crashed:  # not tried again, least of all here: the crash would kill rrdd
                self._give_up(f, str(error))
            elif error is not None:
                self._create_failed(f, error)
            else:
                self.counts.add(Event.RRD_CREATES)
                if f.pending and self.schedule.held(f):
                    self._write([f])

    def _make_now(self, f: RrdFile, again: bool = True) -> None:
        """Make a file that waited (the ceiling, the disk, a rename) in this process;
        its values are written at the next turn."""
        if f.made:  # meanwhile (a flush, a rename onto a file): never made over
            return
        try:
            self.making.now(f, int(f.pending.split(":", 1)[0]) if f.pending else f.last)
        except Refused as e:  # an argument librrd must not get, checked only now
            self._give_up(f, str(e))
            return
        except (OSError, StoreError) as e:
            self._create_failed(f, str(e), again)
            return
        f.order = None  # its DS are its schema's now, in their order (a file made again)
        self.counts.add(Event.RRD_CREATES)
        if f.pending and self.schedule.held(f, soon=True):
            self._write([f])

    def _create_failed(self, f: RrdFile, reason: str, again: bool = True) -> None:
        if self._follow_marks(f) is not None:
            return
        removed = reason == NO_FILE or "temporary file" in reason  # librrd's own words
        removed = removed or not os.path.isdir(os.path.dirname(f.path))
        if removed and self.marks.dropped_lately(f.host):
            # The directory was being deleted as the file was made: a drophost of this
            # host by one of the two rrdd, whose own turn drops these values anyway.
            log.debug(
                "%s/%s: removed by a drophost as it was made; %d values go", f.host, f.name, f.count
            )
            self.counts.add(Event.VALUES_OF_DROPPED_HOSTS, f.count)
            self.table.remove(f)
            return
        if again and removed:
            # Made, then removed (or its directory): most likely by the other rrdd's drophost
            # or droptest, which this one gets later in its own stream and then deletes what
            # is made now.
            log.info("%s/%s: removed as it was made; made again", f.host, f.name)
            self.making.dirs.discard(f.host)
            self._make_now(f, again=False)
            return
        cause = self._disk_cause(f.path, reason)
        if cause is not None:
            f.state = State.WAITING
            self.disk.hold(f, "create", cause, reason)
            return
        self._give_up(f, reason)

    def _follow_marks(self, f: RrdFile) -> RrdFile | None:
        """A file found missing whose host the other rrdd renamed or dropped, or whose
        test it renamed (marks.py): the record that holds its values now (made, if need
        be), or `f` let go with its values (the drop); None when no mark applies."""
        moved = self.marks.new_name(f.host)
        renamed = None if moved is not None else self.marks.new_file_name(f.host, f.name)
        if (moved is not None or renamed is not None) and self.table.holds(f):
            count, old = f.count, f"{f.host}/{f.name}"
            into = self.move(f, moved or f.host, renamed or f.name)
            if count:
                log.info(
                    "%s: renamed %s/%s by the other rrdd; %d values follow it",
                    *(old, into.host, into.name, count),
                )
            if not into.made and into.state is not State.MAKING:
                self._make_now(into)
            return into
        if self.marks.dropped_by_other(f.host):
            log.debug(
                "%s/%s: the other rrdd dropped the host; %d values go", f.host, f.name, f.count
            )
            self.counts.add(Event.VALUES_OF_DROPPED_HOSTS, f.count)
            self.table.remove(f)
            return f
        return None

    def _give_up(self, f: RrdFile, reason: str) -> None:
        """A file that will not be made: its values are lost."""
        reason = f"cannot create {f.path}, {f.count} values lost: {reason}"
        lost = Problem(Event.VALUES_NOT_CREATED, f.host, f.test, f.name, reason, count=f.count)
        self.problems.report(lost)
        self.table.remove(f)

    def move(self, f: RrdFile, host: str, name: str) -> RrdFile:
        """Give a file's held values to the file of that host and name (a rename): see
        FileTable.move. Returns the record that holds them."""
        try:
            into = self.table.move(f, host, name)
        except ValueError:
            reason = f"{f.count} values held for {f.host}/{f.name} dropped: the files have other DS"
            lost = Problem(Event.VALUES_NOT_MOVED, host, f.test, name, reason, count=f.count)
            self.problems.report(lost)
            self.table.remove(f)
            return self.table.get(host, name) or f
        if into is f and not f.made and f.state is not State.MAKING and os.path.lexists(f.path):
            f.state = State.MADE  # the file moved there: never made over it
        # Under its new name: the old one's turn finds nothing.
        if into.pending and into.made and self.schedule.held(into):
            self._write([into])
        return into

    # --- writing -----------------------------------------------------------------------

    def _write(self, files: Sequence[RrdFile], wait: bool = True) -> bool:
        """Hand the held values of these files to the store; False if it is unreachable.

        With `wait`, what the store said of them is taken in before returning; without
        (rrdcached, between reads), at the next sync.
        """
        # A file can be given twice (values, then a put-back): it goes once.
        batch = list({id(f): f for f in files if f.pending and f.made}.values())
        if batch:
            started = self.monotonic()
            try:
                self.store.send([(f.path, f.pending) for f in batch])
            except StoreUnavailable:
                return False
            if self.observe is not None:
                self.observe(self.monotonic() - started)
            self.counts.add(Event.VALUES_WRITTEN, sum([self.table.take(f) for f in batch]))
            self.counts.add(Event.RRD_WRITES, len(batch))
        if wait:
            self.take_answers()
        return True

    def take_answers(self) -> None:
        """Report the values the store refused; take back those to send again, those
        the disk refused (for a retry), and those of a missing file. None of them was
        written after all. A file the store did not make is given up with its values."""
        unmade = self.store.unmade()
        refused, returned = self.store.answers()
        for path, lines in returned:
            self.counts.add(Event.VALUES_WRITTEN, -(lines.count("\n") + 1))
            self._put_back(path, lines)
        by_file: dict[str, list[tuple[str, str]]] = {}
        for path, row, reason in refused:
            self.counts.add(Event.VALUES_WRITTEN, -1)
            by_file.setdefault(path, []).append((row, reason))
        for path, reason in unmade:
            rows = by_file.pop(path, [])  # refused for want of the file: lost with it
            f = self.table.at(path)
            if f is not None:
                if rows:
                    self.table.put_back(f, "\n".join(row for row, _ in rows))
                self._give_up(f, f"rrdcached did not make it: {reason}")
        for path, rows in by_file.items():
            # Each row by what was said of it: one answer can hold two batches' rows.
            f = self.table.at(path)
            host, _, name = path.removeprefix(self.rrddir + "/").partition("/")
            test = "" if f is None else f.test
            gone: list[str] = []  # with f None, let go since (drophost, droptest): values too
            held: list[str] = []  # the disk's refusals: kept for a retry
            causes: dict[str, str | None] = {}  # one look at the disk per reason, not per row
            for row, reason in rows:
                if self._missing(path, reason):
                    gone.append(row)
                elif "illegal attempt to update using time" in reason:  # never the disk's
                    # rrdcached already has a newer value (sent before a restart of rrdd).
                    self.problems.report(Problem(OLD, host, test, name, reason))
                elif f is not None and (cause := self._cause_of(path, reason, causes)) is not None:
                    held.append(row)
                    said = (cause, reason)  # the disk is told once, with the last
                else:
                    reason = f"value {row:.80} rejected: {reason}"
                    self.problems.report(Problem(Event.UPDATES_REJECTED, host, test, name, reason))
            if f is not None and held:
                self.disk.hold(f, "write", *said)
                self._put_back(path, "\n".join(held))
            if gone and f is not None:
                self._gone(f, "\n".join(gone))

    def _missing(self, path: str, reason: str) -> bool:
        if self.store.files_here:
            return not os.path.exists(path)
        return "No such file" in reason  # the daemon's, on another machine

    def _cause_of(self, path: str, reason: str, causes: dict[str, str | None]) -> str | None:
        if reason not in causes:
            causes[reason] = self._disk_cause(path, reason)
        return causes[reason]

    def _disk_cause(self, path: str, reason: str) -> str | None:
        """The cause of a failed create or write, when it is this machine's disk."""
        return self.disk.cause(path, reason) if self.store.files_here else None

    def _gone(self, f: RrdFile, rows: str) -> None:
        """The file of these refused rows is missing: its values follow the other rrdd's
        rename, go with its drop, or the file is made again. They are written at once,
        with rrdcached too: a flush or commit under way must not leave them behind."""
        self._put_back(f.path, rows)
        into = self._follow_marks(f)
        if into is None:
            # The whole directory gone is most likely the other rrdd's drophost, which
            # this one gets later in its own stream; a file alone, someone else's doing.
            gone_too = not os.path.isdir(os.path.dirname(f.path))
            log.log(
                logging.INFO if gone_too else logging.WARNING,
                "%s/%s: the file disappeared; creating it again",
                *(f.host, f.name),
            )
            self.making.dirs.discard(f.host)  # perhaps with its directory
            f.state, into = State.WAITING, f
            self._make_now(f)
        self._write([into])  # when made, and not let go with its values (_write checks)

    def _put_back(self, path: str, rows: str) -> None:
        """Rows sent (one per line) that must go again, ahead of the file's newer values."""
        f = self.table.at(path)
        if f is None:
            return
        had = bool(f.pending)
        self.table.put_back(f, rows)
        if not had and self.store.batched and not self.disk.holds(f):  # else at its retry
            self.schedule.again([f])

    def sync(self) -> None:
        """Between reads: write what is due, make what may be made, try the disk again."""
        self._retry_disk()
        self.take_made()
        if self.store.batched:
            self._send_due(wait=False)
            return
        for f in self.making.turn_of_waiting():
            if self.table.holds(f):
                self._make_now(f)
        for f in self.schedule.due():
            self._write([f])

    def _send_due(self, wait: bool) -> bool:
        """rrdcached: take the answer to the batch sent last, then send what came since;
        False if the daemon is unreachable (the values stay here)."""
        self.take_answers()
        due = self.schedule.due()
        sent = self._write(due, wait=wait)
        if not sent:
            self.schedule.again(due)
        return sent

    def _retry_disk(self) -> None:
        files = [f for f in self.disk.due() if self.table.holds(f)]  # not those let go
        if not files:
            return
        for f in files:
            if not f.made:
                self._make_now(f)
        # With rrdcached too, the answer is waited for: `tried` must see what it said.
        if not self._write(files):
            self.schedule.again(files)
        self.disk.tried([f for f in files if self.table.holds(f)])  # not those given up

    # --- asked for -----------------------------------------------------------------------

    def reconfigure(self, rras: RraDefinitions, policy: CachePolicy) -> None:
        """A reload: new RRA definitions and cache policy for what comes from now on."""
        self.policy = policy
        self.table.max_files = policy.max_files
        self.making.reconfigure(rras, policy.creates_per_second)
        self.schedule.reconfigure(policy)

    def pending(self) -> int:
        return self.table.pending

    def pending_files(self) -> int:
        """Files with values not yet written (read from the metrics thread)."""
        return sum(1 for f in self.table if f.pending)

    def flush(
        self, host: str | None = None, name: str | None = None, to_disk: bool = False
    ) -> list[str]:
        """Write now (no ceiling) every held value of a host, or of one file, or of all.

        With `to_disk`, rrdcached is asked to write them to the files as well (FLUSH).
        Returns the paths of the files.
        """
        self.take_made(wait=True)
        hosts = [host] if host is not None else list(self.table.hosts)
        files = [f for h in hosts for f in self.table.of_host(h) if name is None or f.name == name]
        for f in files:
            if not f.made:
                self._make_now(f)
        if not self._write(files):
            log.error("rrdcached is unreachable; %d values wait in rrdd", self.table.pending)
        paths = [f.path for f in files]
        if to_disk:
            self.store.flush(paths)
        return paths

    def commit(self) -> bool:
        """Make every value accepted so far durable now: written to its file (direct
        mode), or answered by rrdcached; files waiting to be made are made. False when
        some values are still held (rrdcached is away, the disk refuses them)."""
        self.take_made(wait=True)
        waiting, self.making.waiting = list(self.making.waiting), type(self.making.waiting)()
        for f in waiting:
            if self.table.holds(f):
                self._make_now(f)
        files = self.schedule.everything()
        if not self._write(files):
            self.schedule.again(files)
            return False
        return self.table.pending == 0

    def close(self, patience: float = 10.0) -> None:
        """Write everything in one pass, with progress in the log for long flushes.

        With rrdcached, an unreachable daemon is tried again for `patience` seconds.
        """
        self.take_made(wait=True)
        if self.store.batched:
            self._close_batched(patience)
        else:
            self._close_direct()
        self.store.close()
        self.disk.say_lost()
        self.making.close()

    def _close_batched(self, patience: float) -> None:
        for f in [f for f in self.table if not f.made]:
            self._make_now(f)
        self.schedule.again([f for f in self.table if f.pending and f.made])
        deadline = self.monotonic() + patience
        while True:
            sent = self._send_due(wait=True)
            # Those the disk refused once more are not sent again: disk.say_lost says them.
            left = [f for f in self.table if f.pending and f.made and not self.disk.holds(f)]
            if sent and not left:
                return
            if self.monotonic() > deadline:
                lost = sum(f.count for f in left)
                log.error("rrdcached is unreachable: %d values are lost", lost)
                self.counts.add(Event.VALUES_LOST_RRDCACHED, lost)
                return
            if not sent:
                time.sleep(0.2)

    def _close_direct(self) -> None:
        files = [f for f in self.table if f.pending]
        total, started, shown = len(files), self.monotonic(), self.monotonic()
        for done in range(0, total, SHUTDOWN_CHUNK):
            chunk = files[done : done + SHUTDOWN_CHUNK]
            for f in chunk:
                if not f.made:
                    self._make_now(f)
            self._write(chunk)
            if self.monotonic() - shown > 5:
                shown = self.monotonic()
                text = f"Flushed {min(done + SHUTDOWN_CHUNK, total)} of {total} files"
                log.info("%s", text)
                if self.progress is not None:
                    self.progress(text)
        if total:
            log.info("Flushed %d files in %.1f s", total, self.monotonic() - started)

    def existing_ds(self, host: str, rrd: str) -> tuple[str, ...] | None:
        """The DS names of a host's RRD file, or None when it does not exist (or is unsafe)."""
        known = self.table.get(host, rrd)
        if known is not None:
            return known.ds
        if unsafe_name(host) or unsafe_name(rrd):
            return None
        path = self.table.path(host, rrd)
        try:
            return self.store.info(path)[1]
        except (OSError, StoreError):  # FileNotFoundError: none
            return None

    # --- host and test maintenance (hosts.py) --------------------------------------------

    def drop_host(self, host: str) -> None:
        self.maintenance.drop_host(host)

    def rename_host(self, old: str, new: str) -> None:
        self.maintenance.rename_host(old, new)

    def host_files(self, host: str) -> list[str]:
        return self.maintenance.host_files(host)

    def drop_files(self, host: str, names: list[str]) -> None:
        self.maintenance.drop_files(host, names)

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        self.maintenance.rename_files(host, renames)
