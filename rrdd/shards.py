"""--workers=N: the hosts spread over N worker processes, so that rrdd uses N cores.

One rrdd process parses and writes 30-50k messages a second (bench/RESULTS.md).
With --workers, the process that reads the channel, the router, only cuts the stream
into messages and passes each one, unchanged, to the worker of its host
(crc32(host) % N). Each worker is a whole rrdd: parsers, cache, writer, its own
rrdcached connection, its own flush socket ``rrdctl.<pid>``, its own --processor and
extra script. It reads its share of the channel from a pipe. A host's messages and the
control messages that name it reach one worker, in stream order, so every file has one
writer and gets its values in order.

Control messages:

* drophost, droptest, renametest: to the worker of that host.
* renamehost OLD NEW: to the worker of OLD, which moves the files; NEW's messages then
  go to that worker as well, until rrdd restarts. If NEW had a worker of its own, that
  one first gets "renamehost NEW NEW", which writes what it holds for NEW and forgets
  it, and the router waits until it has (hosts_released in its report): values NEW
  sent before the rename go to its files before any that come after.
* reload and logrotate: to every worker. SIGHUP and a changed configuration file send
  every worker a reload too.
* shutdown: the router stops, as at the end of input.

Stopping: the router stops reading, closes the pipes and waits. Each worker writes what
it holds and exits when its pipe ends, after the last message the router passed on;
workers ignore SIGTERM, SIGINT and SIGHUP, which systemd sends the whole unit. If the
router is killed, the workers still get every message it passed on. If a worker dies,
the router says so, stops the others and exits 1.

Metrics: each worker sends the router its figures (counts, gauges, flush times; see
metrics.Figures) once a second, as one JSON line; the router's /metrics shows them merged
with its own by metrics.merge. Each worker keeps its own problems journal in state_dir
(problems.py); the router, which refuses nothing, keeps none.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import os
import select
import signal
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from rrdd import __version__, logsetup, privileges, systemd
from rrdd.channel import CONTROLS, TERMINATOR, ChannelParser, route
from rrdd.daemon import reopen_logs
from rrdd.errors import StartError
from rrdd.events import Counts, Event, Key, totals
from rrdd.loop import SIGNALS, Loop
from rrdd.metrics import Figures, Metrics, merge
from rrdd.schema import unsafe_host
from rrdd.settings import Settings
from rrdd.startup import (
    lost_creates,
    start_creators,
    start_daemon,
    start_metrics,
    start_watcher,
    writer_gauges,
)
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd")

PIPE_SIZE = 1 << 20  # bytes of channel a worker's pipe holds (Linux's default limit)
REPORT_SECONDS = 1.0
READ_SIZE = 1 << 16  # bytes of channel read at a time, as a single rrdd reads it
# What every worker gets for SIGHUP (log files reopened, then a reload) or a changed file.
RELOAD = (b"@@logrotate|0|rrdd", b"@@reload|0|rrdd")
# Controls the router passes to every worker, which count them too.
COUNTED_BY_ROUTER: tuple[Key, ...] = tuple(
    (Event.CONTROLS, k) for k, c in CONTROLS.items() if c.scope == "every"
)
RELEASE_SECONDS = 60.0  # the longest the router waits for a worker to release a host


@dataclass
class Worker:
    number: int
    pid: int
    pipe: int  # the router writes the worker's share of the channel here
    reports: int  # and reads the worker's reports here
    partial: bytearray = field(default_factory=bytearray)  # a report line not yet whole
    figures: Figures | None = None  # from the latest report, less COUNTED_BY_ROUTER
    ready: bool = False
    released: int = 0  # hosts the router asked it to release


# --- the workers ------------------------------------------------------------------------


# A worker's life: (settings, rras, rebuild, channel fd, reports fd) -> exit code
Life = Callable[[Settings, RraDefinitions, Callable[[], Settings], int, int], int]


def spawn(
    number: int,
    settings: Settings,
    rras: RraDefinitions,
    rebuild: Callable[[], Settings],
    others: list[Worker],
    life: Life,
) -> Worker:
    """Fork a worker to live `life`. Only the calling thread lives on in the child, so
    this is done before the router starts any (metrics, file watcher)."""
    channel_r, channel_w = os.pipe()
    reports_r, reports_w = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(channel_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    gc.freeze()  # the child's collector leaves what it inherits alone: no copy-on-write
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd in (channel_w, reports_r, *(x for w in others for x in (w.pipe, w.reports))):
                os.close(fd)
            devnull = os.open(os.devnull, os.O_RDONLY)  # the channel is the router's
            os.dup2(devnull, 0)
            os.close(devnull)
            code = life(settings, rras, rebuild, channel_r, reports_w)
        except BaseException:
            log.exception("Worker %d failed", number)
        finally:
            logging.shutdown()
            os._exit(code)
    os.close(channel_r)
    os.close(reports_w)
    os.set_blocking(reports_r, False)
    return Worker(number, pid, channel_w, reports_r)


def work(
    settings: Settings,
    rras: RraDefinitions,
    rebuild: Callable[[], Settings],
    channel: int,
    reports: int,
) -> int:
    """A worker's life: rrdd's own daemon over its pipe, reporting to the router."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        os.environ.pop(name, None)  # systemd hears from the router only
    counts = Counts()
    metrics = Metrics(counts, version=__version__, registry=CollectorRegistry())  # not served
    try:
        creators = start_creators(settings, counts)
        running = start_daemon(settings, rras, rebuild, counts, metrics, creators)
    except StartError as e:
        log.error("%s", e)
        return 1
    writer_gauges(metrics, running.writer, lambda: running.daemon.last_message)
    reporter = Reporter(reports, counts, metrics)
    reporter.send({"ready": True})
    try:
        running.daemon.run(channel, signals=(), tick=reporter.tick)
    finally:
        if running.processor:
            running.processor.close()
    reporter.finish()
    return lost_creates(running.writer)


class Reporter:
    """A worker's reports: one JSON line a second. The pipe is not waited for: what it
    does not take now goes later, and no new report is made meanwhile."""

    def __init__(self, fd: int, counts: Counts, metrics: Metrics):
        self.fd, self.counts, self.metrics = fd, counts, metrics
        os.set_blocking(fd, False)
        self.unsent = b""
        self.next = 0.0
        self.released = 0

    def tick(self) -> None:
        now = time.monotonic()
        released = self.counts.get(Event.HOSTS_RELEASED)  # the router waits for this one
        if now >= self.next or released != self.released:
            self.next, self.released = now + REPORT_SECONDS, released
            self.send({})

    def send(self, extra: dict[str, Any]) -> None:
        if not self.unsent:
            report = {"figures": self.metrics.figures().to_json(), **extra}
            self.unsent = json.dumps(report).encode() + b"\n"
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            self.unsent = self.unsent[os.write(self.fd, self.unsent) :]

    def finish(self) -> None:
        """The last report: the router reads until the pipe ends."""
        os.set_blocking(self.fd, True)  # now a write takes all it is given
        if self.unsent:
            self.send({})  # the rest of the report under way
        self.send({})  # the final counts
        os.close(self.fd)


# --- the router -------------------------------------------------------------------------


def released(w: Worker) -> int:
    """Hosts the worker has released (renamehost NEW NEW), by its latest report."""
    return 0 if w.figures is None else w.figures.counters.get((Event.HOSTS_RELEASED, ""), 0)


class Router:
    """Reads the channel and passes each message to the worker of its host."""

    def __init__(self, max_message: int, counts: Counts, logfile: Path | None = None):
        self.workers: list[Worker] = []
        self.logfile = logfile  # reopened on @@logrotate
        self.counts = counts  # the router's own
        self.channel = ChannelParser(max_message, counts)
        self.renamed: dict[bytes, int] = {}  # host -> worker, after a renamehost
        self.release: tuple[int, bytes] | None = None  # (worker, host) to release next
        self.running = True
        self.ran = False  # run() was called: the totals are worth a line
        self.failed = False
        self.last_message = 0.0
        self._loop: Loop | None = None  # while run() runs: a router made for targets()
        self._reload_wanted = False  # holds no fds

    def worker_of(self, host: bytes | bytearray) -> int:
        found = self.renamed.get(bytes(host)) if self.renamed else None
        return zlib.crc32(host) % len(self.workers) if found is None else found

    def targets(self, block: bytes | bytearray) -> tuple[int, ...]:
        """The workers a message goes to; none for idle and shutdown.

        A renamehost also sends the new name to the old name's worker from now on, and
        sets `release` when another worker had it (_read then calls _hand_over).
        """
        kind, hosts = route(block)
        if kind == "renamehost" and hosts:
            return (self._rename(*hosts),)
        if hosts:  # status, data and the other controls of a host
            return (self.worker_of(hosts[0]),)
        if kind not in CONTROLS or CONTROLS[kind].scope == "host":
            return (0,)  # unknown, or a header too short for its host: the worker logs it
        self.counts.add(Event.CONTROLS, 1, kind)
        if kind == "logrotate":
            reopen_logs(self.logfile)
        elif kind == "shutdown":
            self._stop()
        return tuple(range(len(self.workers))) if CONTROLS[kind].scope == "every" else ()

    def _rename(self, old: bytes, new: bytes) -> int:
        """The worker of a renamehost: OLD's, which from now on has NEW as well."""
        number, before = self.worker_of(old), self.worker_of(new)
        names = (old.decode("utf-8", "surrogateescape"), new.decode("utf-8", "surrogateescape"))
        if any(unsafe_host(name) for name in names):  # the workers' own check
            return number  # refused there, with a log line
        self.renamed[new] = number
        if before != number:
            self.release = (before, new)
        return number

    # --- the loop -----------------------------------------------------------------------

    def run(self, fd: int) -> None:
        """Pass the channel on `fd` to the workers until its end, or a signal to stop."""
        self.ran = True
        loop = self._loop = Loop()
        loop.reader(fd, lambda: self._read(fd))
        for w in self.workers:
            loop.reader(w.reports, lambda w=w: self._reports(w))  # type: ignore[misc]
        loop.on_signals(self._on_signal, SIGNALS)
        loop.every(1.0, self._check_workers)
        if self._reload_wanted:
            loop.soon(self._take_reload)
        try:
            if self.running:
                loop.run()
        finally:
            for w in self.workers:
                loop.forget(w.reports)  # stop() reads them to their end
            self.stop()
            self._loop = None
            loop.close()

    def _stop(self) -> None:
        self.running = False
        if self._loop is not None:
            self._loop.stop()

    def _reports(self, w: Worker) -> None:
        if not self._take_reports(w):
            assert self._loop is not None
            self._loop.forget(w.reports)  # it has exited: _check_workers says so
            self._check_workers()

    def _read(self, fd: int) -> None:
        data = os.read(fd, READ_SIZE)
        self.last_message = time.time()
        if not data:
            self.channel.close()
            self._stop()
            return
        shares: list[list[bytes | bytearray]] = [[] for _ in self.workers]
        for block in self.channel.blocks(data):
            for number in self.targets(block):
                shares[number].append(block)
            if self.release is not None:
                self._hand_over(shares)
            if not self.running:
                break
        self._pass_shares(shares)

    def _pass_shares(self, shares: list[list[bytes | bytearray]]) -> None:
        for w, share in zip(self.workers, shares, strict=True):
            if share:
                self._pass(w, TERMINATOR.join(share) + TERMINATOR)
                share.clear()

    def _hand_over(self, shares: list[list[bytes | bytearray]]) -> None:
        """A renamehost gave a host to another worker: the one that had it writes what it
        holds for it (and finishes the files it is making) before the new worker gets the
        renamehost, which moves files into the host's directory."""
        assert self.release is not None
        number, host = self.release
        self.release = None
        w, share = self.workers[number], shares[number]
        share.append(b"@@renamehost|0|rrdd|%s|%s" % (host, host))
        self._pass(w, TERMINATOR.join(share) + TERMINATOR)
        share.clear()
        w.released += 1
        deadline = time.monotonic() + RELEASE_SECONDS
        while w.pid and released(w) < w.released:
            if time.monotonic() > deadline:
                log.warning("Worker %d has not released a renamed host in time; going on", number)
                return
            select.select([w.reports], [], [], 1.0)
            if not self._take_reports(w):
                return  # it has ended: _check_workers says so

    def _pass(self, w: Worker, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(w.pipe, view) :]
        except BrokenPipeError:
            self._lost(w, f"{len(view)} bytes of channel not passed on")

    def broadcast(self, block: bytes) -> None:
        for w in self.workers:
            self._pass(w, block + TERMINATOR)

    def _take_reports(self, w: Worker) -> bool:
        """Read what the worker reported; False when its pipe has ended."""
        try:
            data = os.read(w.reports, 1 << 16)
        except BlockingIOError:
            return True
        w.partial += data
        *lines, rest = w.partial.split(b"\n")
        w.partial = bytearray(rest)
        for line in lines:
            report = json.loads(line)
            w.ready = w.ready or bool(report.get("ready"))
            figures = Figures.from_json(report["figures"])
            for key in COUNTED_BY_ROUTER:
                figures.counters.pop(key, None)
            w.figures = figures  # one reference swap: a scrape sees old or new
        return bool(data)

    def worker_figures(self) -> list[Figures]:
        """The workers' latest figures (for /metrics, from its thread)."""
        return [w.figures for w in self.workers if w.figures is not None]

    @property
    def merged(self) -> Counter[str]:
        """The router's counts and its workers', by their names in the Totals line."""
        figures = merge([Figures.counting(self.counts.snapshot()), *self.worker_figures()])
        return Counter(totals(figures.counters))

    def _on_signal(self, signum: signal.Signals) -> None:
        if signum == signal.SIGHUP:
            logsetup.reopen()
            self.request_reload()
        elif self.running:
            log.info("Got signal %s, stopping", signum.name)
            self._stop()

    def request_reload(self) -> None:
        """Every worker reloads, soon; from any thread (the file watcher's). Several
        requests that come together make one reload."""
        self._reload_wanted = True
        if self._loop is not None:
            self._loop.soon(self._take_reload)

    def _take_reload(self) -> None:
        if self._reload_wanted and self.running:
            self._reload_wanted = False
            log.info("Reload: passed on to the workers")
            for block in RELOAD:
                self.broadcast(block)

    def _check_workers(self) -> None:
        for w in self.workers:
            pid, status = os.waitpid(w.pid, os.WNOHANG) if w.pid else (0, 0)
            if pid:
                w.pid = 0
                self._lost(w, f"exit status {os.waitstatus_to_exitcode(status)}")

    def _lost(self, w: Worker, why: str) -> None:
        if not self.failed:
            log.error("Worker %d has died (%s); stopping rrdd", w.number, why)
        self.failed = True
        self._stop()

    def start(
        self,
        n: int,
        settings: Settings,
        rras: RraDefinitions,
        rebuild: Callable[[], Settings],
        life: Life = work,
    ) -> bool:
        """Start the workers one after the other: False when one cannot start (it has
        said why), and the others are stopped. `life` is what they do (benchmarks give
        their own)."""
        for number in range(n):
            w = spawn(number, settings, rras, rebuild, self.workers, life)
            self.workers.append(w)
            while not w.ready:
                # No time.sleep: under libfaketime's frozen clock it fails (EINVAL).
                select.select([w.reports], [], [])  # a report, or the end of a failed start
                if not self._take_reports(w):
                    os.waitpid(w.pid, 0)  # it has said why
                    w.pid = 0
                    self.stop()
                    return False
            log.info("Worker %d started: pid %d", number, w.pid)
        return True

    def stop(self) -> None:
        """Close the pipes and wait until every worker has written what it holds."""
        busy = [w for w in self.workers if w.pid]
        systemd.notify("STOPPING=1", f"STATUS=Waiting for {len(busy)} workers to write")
        for w in self.workers:
            with contextlib.suppress(OSError):
                os.close(w.pipe)
        if busy:
            log.info("Waiting for %d workers to write what they hold", len(busy))
        for w in self.workers:
            os.set_blocking(w.reports, True)
            while self._take_reports(w):
                pass
            os.close(w.reports)
            if w.pid:
                _, status = os.waitpid(w.pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    self.failed = True
                w.pid = 0
        if self.ran:
            summary = ", ".join(f"{k} {v}" for k, v in sorted(self.merged.items()) if v)
            log.info("Totals of all workers: %s", summary or "nothing received")


def run_router(
    settings: Settings,
    rras: RraDefinitions,
    rebuild: Callable[[], Settings],
    config_files: tuple[Path, ...],
) -> int:
    """cli.run_daemon with --workers: the workers first, then the router's metrics and watcher."""
    log.info("Starting %d workers", settings.workers)
    counts = Counts()
    router = Router(settings.max_message, counts, settings.logfile)
    if not router.start(settings.workers, settings, rras, rebuild):
        return 1
    try:
        shared = start_metrics(settings, counts)
        privileges.drop(settings.user, settings.group)
        privileges.warn_if_root(settings.user)
    except StartError as e:
        log.error("%s", e)
        router.stop()
        return 1
    if shared is not None:
        # The workers' gauges say the rest: cache sizes, rrdcached's connection.
        shared.metrics.gauges["rrdd_last_message_timestamp_seconds"] = lambda: router.last_message
        shared.metrics.more = router.worker_figures
        shared.start()
    watcher = start_watcher(settings, config_files, router.request_reload)
    try:
        router.run(0)
    finally:
        watcher.stop()
        if shared:
            shared.close()
    return 1 if router.failed else 0
