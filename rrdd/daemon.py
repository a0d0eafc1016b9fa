"""The main loop: read the channel on stdin, dispatch messages, carry out control messages.

It ends at end of input, on @@shutdown, SIGTERM or SIGINT, and then writes every cached
value before returning. Control messages run synchronously and in stream order, so a
drophost or renamehost sees exactly the data that came before it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import selectors
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from rrdd import logsetup, systemd
from rrdd.channel import ChannelParser, Control, Item, Message
from rrdd.context import Context
from rrdd.control import FlushSocket
from rrdd.dispatch import Dispatcher, Routes
from rrdd.errors import ConfigError
from rrdd.external import ExtraScripts
from rrdd.hostscfg import load_interfaces
from rrdd.parsers import Handler, load_builtins, matching_files
from rrdd.schema import unsafe_host, unsafe_name
from rrdd.settings import Settings
from rrdd.snmpmibs import load_mibs
from rrdd.writer import Writer
from rrdd.writer.direct import CachePolicy
from rrdd.xymoncfg import RraDefinitions, tcp_services

log = logging.getLogger("rrdd")

# The signals rrdd acts on: SIGHUP reloads, the others stop it.
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def make_routes(settings: Settings) -> Routes:
    services = tcp_services(settings.protocols, settings.netsvcs, str(settings.xymonhome or ""))
    return Routes(settings.test2rrd, services)


def make_context(settings: Settings, writer: Writer) -> Context:
    def caseless(pattern: str | None) -> re.Pattern[str] | None:
        return re.compile(pattern, re.IGNORECASE) if pattern else None

    return Context(
        mibs=load_mibs(settings.snmpmibs),
        interfaces=load_interfaces(settings.hostscfg),
        pingcolumn=settings.pingcolumn,
        existing_ds=writer.existing_ds,
        rrddisks=caseless(settings.rrddisks),
        norrddisks=caseless(settings.norrddisks),
        ncv=settings.ncv,
        splitncv=settings.splitncv,
        trackmax=frozenset(settings.trackmax),
    )


def make_extra(settings: Settings, notify: Callable[[], None]) -> ExtraScripts | None:
    if not (settings.extra_script and settings.extra_tests):
        return None
    return ExtraScripts(
        str(settings.extra_script),
        settings.extra_tests,
        tmpdir=_str(settings.tmpdir),
        timeout=settings.extra_timeout,
        workers=settings.extra_workers,
        persistent=settings.extra_persistent,
        notify=notify,
    )


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


# What a reload changes in the parsers' context (their state across messages stays).
LIVE_CONTEXT = (
    "mibs",
    "interfaces",
    "pingcolumn",
    "rrddisks",
    "norrddisks",
    "ncv",
    "splitncv",
    "trackmax",
)
# Settings whose new values need a restart: they shaped what was opened or started.
RESTART_SETTINGS = (
    "rrddir",
    "rrdcached",
    "tmpdir",
    "metrics_listen",
    "metrics_retry",
    "state_dir",
    "user",
    "group",
    "processor",
    "extra_script",
    "extra_tests",
    "extra_timeout",
    "extra_workers",
    "extra_persistent",
    "create_workers",
    "workers",
    "cache",
    "rrd",
    "max_message",
)


def cache_policy(settings: Settings) -> CachePolicy:
    return CachePolicy(
        max_age=settings.cache_age,
        writes_per_second=settings.writes_per_second,
        creates_per_second=settings.creates_per_second,
        max_pending=settings.max_pending,
    )


@contextlib.contextmanager
def caught(
    signals: tuple[signal.Signals, ...], handler: Callable[[int, FrameType | None], None], wake: int
) -> Iterator[None]:
    """While in the block: `handler` gets these signals, and each signal writes a byte to
    the fd `wake`, so that a select() on its other end returns."""
    old_wakeup = signal.set_wakeup_fd(wake)
    handlers = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)


def reopen_logs(logfile: Path | None) -> None:
    """@@logrotate: the log files open again, and stdout and stderr go to `logfile`
    (XYMONCHANNEL_LOGFILENAME, where xymond_channel sends its worker's output)."""
    logsetup.reopen()
    if logfile is None:
        return
    try:
        fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        log.error("Cannot reopen log file %s: %s", logfile, e)
        return
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def load_rras(settings: Settings) -> RraDefinitions:
    return RraDefinitions.load(settings.rrddefinitions, str(settings.xymonhome or ""))


class Daemon:
    def __init__(
        self,
        settings: Settings,
        writer: Writer,
        stats: Counter[str],
        flush_socket: FlushSocket | None = None,
        rebuild: Callable[[], Settings] | None = None,
    ):
        self.settings = settings
        self.rebuild = rebuild or (lambda: self.settings)
        self.writer = writer
        self.flush_socket = flush_socket
        self.stats = stats
        self.handlers: dict[str, Handler] = load_builtins()
        # Signals and the extra script's answers wake the loop through a pipe that run()
        # makes: a Daemon driven without run() (tests, benchmarks) holds no fds.
        self._wake_r = self._wake_w = -1
        self.extra = make_extra(settings, self._wake)
        self.dispatcher = Dispatcher(
            make_routes(settings),
            self.handlers,
            make_context(settings, writer),
            writer,
            stats,
            self.extra,
        )
        self.channel = ChannelParser(settings.max_message, stats)
        self.running = True
        self.last_message = 0.0  # when the last channel data arrived (metrics)
        self._reloaded: tuple[object, ...] = ()  # what the last reload read (reload())
        self._signalled: list[int] = []

    # --- the loop --------------------------------------------------------------------

    def run(
        self,
        fd: int,
        signals: tuple[signal.Signals, ...] = SIGNALS,
        tick: Callable[[], object] | None = None,
    ) -> None:
        """Read channel messages from `fd` until the end; flush everything.

        `signals` are the ones rrdd acts on (a shard leaves them to its router); `tick` is
        called after each pass of the loop, at least once a second.
        """
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        self._wake_r, self._wake_w = wake_r, wake_w
        with caught(signals, self._on_signal, wake_w):
            self._loop(fd, tick)
        self._wake_r = self._wake_w = -1
        os.close(wake_r)  # not before: a signal could write to the fd number reused
        os.close(wake_w)

    def _loop(self, fd: int, tick: Callable[[], object] | None) -> None:
        wake_r = self._wake_r
        sel = selectors.PollSelector()  # epoll refuses regular files; poll takes them
        sel.register(fd, selectors.EVENT_READ)
        sel.register(wake_r, selectors.EVENT_READ)
        if self.flush_socket is not None:
            sel.register(self.flush_socket.fileno(), selectors.EVENT_READ)
        watchdog = systemd.watchdog_interval()
        next_watchdog = time.monotonic()
        systemd.notify("READY=1", "STATUS=Reading the channel")
        try:
            while self.running:
                if watchdog is not None and time.monotonic() >= next_watchdog:
                    systemd.notify("WATCHDOG=1")
                    next_watchdog = time.monotonic() + watchdog
                for key, _ in sel.select(timeout=1.0):  # at least once a second: cache timers
                    if key.fd == wake_r:
                        os.read(wake_r, 512)
                    elif key.fd == fd:
                        self._read(fd)
                    else:
                        self._serve_flushes()
                self.dispatcher.collect()
                self.writer.sync()
                self._take_signals()
                if tick is not None:
                    tick()
        finally:
            sel.close()
            # Our handlers stay through the final flush: a second SIGTERM (systemd signals
            # the whole unit; xymond_channel also stops its worker) must not cut it short.
            self.shutdown()

    def _read(self, fd: int) -> None:
        data = os.read(fd, 1 << 16)
        self.last_message = time.time()
        if not data:
            self.channel.close()
            self.running = False
            return
        for item in self.channel.feed(data):
            self.handle(item)
            if not self.running:
                break

    def _serve_flushes(self) -> None:
        """Flush requests (showgraph, rrdd flush): write what the host or file has now."""
        assert self.flush_socket is not None
        for request in self.flush_socket.requests():
            self.stats["flush_requests"] += 1
            host = None if request.all_hosts else request.host
            paths = self.writer.flush(host, request.file, to_disk=True)
            self.flush_socket.answer(request, f"rrdd {os.getpid()}: {len(paths)} files flushed")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signalled.append(signum)

    def _take_signals(self) -> None:
        signals, self._signalled = set(self._signalled), []
        if signals - {signal.SIGHUP}:
            log.info("Got signal %s, stopping", signal.Signals(max(signals)).name)
            self.running = False
        elif signals:  # one reload however many requests came together
            logsetup.reopen()
            self.reload()

    def request_reload(self) -> None:
        """From the file watcher's thread: reload between messages, soon."""
        self._signalled.append(signal.SIGHUP)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def shutdown(self) -> None:
        systemd.notify("STOPPING=1", f"STATUS=Writing {self.writer.pending()} cached values")
        if self.extra is not None:
            if self.extra.busy():
                log.info("Waiting for the extra script to answer the messages it has")
            self.extra.close()
            self.dispatcher.collect()
        if self.flush_socket is not None:
            self.flush_socket.close()
        log.info("Shutting down, flushing cached updates to disk")
        self.writer.close()
        log.info("Cache flush completed")
        summary = ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items()) if v)
        log.info("Totals: %s", summary or "nothing received")

    # --- one item --------------------------------------------------------------------

    def handle(self, item: Item) -> None:
        if isinstance(item, Message):
            self.dispatcher.handle(item)
        else:
            self.stats[f"controls_{item.kind}"] += 1
            getattr(self, f"_do_{item.kind}")(item)

    def _do_idle(self, c: Control) -> None:
        pass

    def _do_shutdown(self, c: Control) -> None:
        self.running = False

    def _do_reload(self, c: Control) -> None:
        self.reload()

    def _do_logrotate(self, c: Control) -> None:
        reopen_logs(self.settings.logfile)

    def _do_drophost(self, c: Control) -> None:
        (host,) = c.args
        if unsafe_host(host):
            log.error("Unsafe hostname '%.200s' in a drophost message, ignoring it", host)
            return
        if self.extra is not None:
            self.extra.forget(host)
        self.writer.drop_host(host)

    def _do_renamehost(self, c: Control) -> None:
        old, new = c.args
        if unsafe_host(old) or unsafe_host(new):
            log.error(
                "Unsafe hostname in a renamehost message ('%.200s' -> '%.200s'), ignoring it",
                old,
                new,
            )
            return
        if self.extra is not None:
            self.extra.forget(old)
        self.writer.rename_host(old, new)
        if old == new:  # what the router of --workers sends to let another worker take it
            self.stats["hosts_released"] += 1

    def _do_droptest(self, c: Control) -> None:
        host, test = c.args
        handler = self._test_handler("droptest", host, test)
        if handler is None:
            return
        names = [old for old, _ in matching_files(handler, test, self.writer.host_files(host))]
        if names:
            log.info("droptest %s/%s: deleting %d files", host, test, len(names))
        self.writer.drop_files(host, names)  # also when none: it says if the host is a link

    def _do_renametest(self, c: Control) -> None:
        host, old, new = c.args
        handler = self._test_handler("renametest", host, old)
        if handler is None or unsafe_name(new):
            return
        renames = matching_files(handler, old, self.writer.host_files(host), new)
        renames = [(a, b) for a, b in renames if a != b and not unsafe_name(b)]
        if renames:
            log.info("renametest %s: %s -> %s: renaming %d files", host, old, new, len(renames))
        self.writer.rename_files(host, renames)

    def _test_handler(self, what: str, host: str, test: str) -> Handler | None:
        if unsafe_host(host):
            log.error("Unsafe hostname '%.200s' in a %s message, ignoring it", host, what)
            return None
        _, handler = self.dispatcher.handler_for(test)
        if handler is None:
            log.warning("%s %s/%s: no handler writes files for this test", what, host, test)
        return handler

    def reload(self) -> None:
        """SIGHUP, @@reload or a changed file: new settings, swapped in between messages.

        Everything is read and checked before anything is changed, so a bad file keeps
        the old configuration whole. Pending values are not touched. A reload that reads
        what the previous one read changes nothing and is skipped with a debug line:
        an edit of hosts.cfg brings one from the file watcher and another with xymond's
        @@reload once xymond has read the file. What was read is compared, not the
        files' times, so a change is never missed (an include, a file edited twice in
        the same second).
        """
        try:
            new = self.rebuild()
            routes = make_routes(new)
            ctx = make_context(new, self.writer)
            rras = load_rras(new)
            read = (new, routes.table, rras, *(getattr(ctx, name) for name in LIVE_CONTEXT))
            if read == self._reloaded:
                log.debug("Reload skipped: the configuration is what the last reload read")
                return
            logsetup.configure(new.log, new.debug)
        except ConfigError as e:
            log.error("Reload failed, keeping the old configuration: %s", e)
            return
        self._reloaded = read
        for name in LIVE_CONTEXT:
            setattr(self.dispatcher.ctx, name, getattr(ctx, name))
        self.dispatcher.reconfigure(routes)
        self.writer.reconfigure(rras, cache_policy(new))
        later = [k for k in RESTART_SETTINGS if getattr(new, k) != getattr(self.settings, k)]
        if later:
            log.warning("Changed settings that take effect after a restart: %s", ", ".join(later))
        self.settings = new
        log.info("Configuration reloaded")
