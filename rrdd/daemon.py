"""The main loop: read the channel on stdin, dispatch messages, carry out control messages.

It ends at end of input, on @@shutdown, SIGTERM or SIGINT, and then writes every cached
value before returning. Control messages run synchronously and in stream order, so a
drophost or renamehost sees exactly the data that came before it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from rrdd import logsetup, systemd
from rrdd.channel import ChannelParser, Control, Item, Message
from rrdd.context import Context
from rrdd.dispatch import Dispatcher, Routes
from rrdd.errors import ConfigError
from rrdd.events import Counts, Event
from rrdd.external import ExtraScripts
from rrdd.flush import FlushSocket
from rrdd.hostscfg import load_interfaces
from rrdd.loop import SIGNALS, Loop
from rrdd.parsers import Handler, load_builtins, matching_files
from rrdd.problems import Problems
from rrdd.schema import unsafe_host, unsafe_name
from rrdd.settings import Settings, restart_only
from rrdd.snmpmibs import load_mibs
from rrdd.writer import Writer
from rrdd.writer.schedule import CachePolicy
from rrdd.xymoncfg import RraDefinitions, tcp_services

log = logging.getLogger("rrdd")


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


def cache_policy(settings: Settings) -> CachePolicy:
    return CachePolicy(
        max_age=settings.cache_age,
        writes_per_second=settings.writes_per_second,
        creates_per_second=settings.creates_per_second,
        max_pending=settings.max_pending,
    )


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
        counts: Counts,
        flush_socket: FlushSocket | None = None,
        rebuild: Callable[[], Settings] | None = None,
        problems: Problems | None = None,
    ):
        self.settings = settings
        self.rebuild = rebuild or (lambda: self.settings)
        self.writer = writer
        self.flush_socket = flush_socket
        self.counts = counts
        self.problems = problems or Problems(counts)  # the writer's too, when it reports
        self.handlers: dict[str, Handler] = load_builtins()
        self._loop: Loop | None = None  # while run() runs: a Daemon driven without it
        self._tick: Callable[[], object] | None = None  # holds no fds (tests, benchmarks)
        self.extra = make_extra(settings, self._wake)
        self.dispatcher = Dispatcher(
            make_routes(settings),
            self.handlers,
            make_context(settings, writer),
            writer,
            counts,
            self.extra,
            self.problems,
        )
        self.channel = ChannelParser(settings.max_message, counts)
        self.running = True
        self.last_message = 0.0  # when the last channel data arrived (metrics)
        self._reloaded: tuple[object, ...] = ()  # what the last reload read (reload())
        self._reload_wanted = False

    # --- the loop --------------------------------------------------------------------

    def run(
        self,
        fd: int,
        signals: tuple[signal.Signals, ...] = SIGNALS,
        tick: Callable[[], object] | None = None,
    ) -> None:
        """Read channel messages from `fd` until the end; flush everything.

        `signals` are the ones rrdd acts on (a shard leaves them to its router); `tick` is
        called after each read, and at least once a second.
        """
        loop = Loop()
        self._tick = tick
        loop.reader(fd, lambda: self._read(fd))
        loop.on_signals(self._on_signal, signals)
        self.plug(loop)
        try:
            if self.running:
                loop.run()
        finally:
            self.shutdown()
            self._loop = None
            loop.close()

    def plug(self, loop: Loop) -> None:
        """Serve the daemon's own inputs in `loop`: flush requests, the cache's timers and
        reloads. The channel is the caller's (stdin here, NATS in a worker)."""
        self._loop = loop
        if self.flush_socket is not None:
            loop.reader(self.flush_socket.fileno(), self._serve_flushes)
        loop.every(1.0, self._settle)  # the cache's timers, when no input comes
        if self._reload_wanted:
            loop.soon(self._take_reload)

    def _read(self, fd: int) -> None:
        data = os.read(fd, 1 << 16)
        self.last_message = time.time()
        if not data:
            self.channel.close()
            self._stop()
            return
        for item in self.channel.feed(data):
            self.handle(item)
            if not self.running:
                break
        self._settle()

    def _settle(self) -> None:
        """Between reads: write what the extra script answered, what the cache policy
        says is due, and the problems found."""
        self.dispatcher.collect()
        self.writer.sync()
        self.problems.flush()
        if self._tick is not None:
            self._tick()

    def _stop(self) -> None:
        self.running = False
        if self._loop is not None:
            self._loop.stop()

    def _serve_flushes(self) -> None:
        """Flush requests (showgraph, rrdd flush): write what the host or file has now."""
        assert self.flush_socket is not None
        for request in self.flush_socket.requests():
            self.counts.add(Event.FLUSH_REQUESTS)
            host = None if request.all_hosts else request.host
            paths = self.writer.flush(host, request.file, to_disk=True)
            self.flush_socket.answer(request, f"rrdd {os.getpid()}: {len(paths)} files flushed")

    def _on_signal(self, signum: signal.Signals) -> None:
        if signum == signal.SIGHUP:
            logsetup.reopen()
            self.request_reload()
        elif self.running:
            log.info("Got signal %s, stopping", signum.name)
            self._stop()

    def request_reload(self) -> None:
        """A reload between messages, soon; from any thread (the file watcher's). Several
        requests that come together make one reload."""
        self._reload_wanted = True
        if self._loop is not None:
            self._loop.soon(self._take_reload)

    def _take_reload(self) -> None:
        if self._reload_wanted and self.running:
            self._reload_wanted = False
            self.reload()

    def _wake(self) -> None:
        """From an extra script's thread: its answer is waiting."""
        if self._loop is not None:
            self._loop.soon(self._settle)

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
        self.problems.close()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.totals().items()) if v)
        log.info("Totals: %s", summary or "nothing received")

    # --- one item --------------------------------------------------------------------

    def handle(self, item: Item) -> None:
        if isinstance(item, Message):
            self.dispatcher.handle(item)
        else:
            self.counts.add(Event.CONTROLS, 1, item.kind)
            CONTROL_HANDLERS[item.kind](self, item)

    def _do_idle(self, c: Control) -> None:
        pass

    def _do_shutdown(self, c: Control) -> None:
        self._stop()

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
            self.counts.add(Event.HOSTS_RELEASED)

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
        later = restart_only(self.settings, new)
        if later:
            log.warning("Changed settings that take effect after a restart: %s", ", ".join(later))
        self.settings = new
        log.info("Configuration reloaded")


# What the daemon does for each control message (channel.CONTROLS lists them all).
CONTROL_HANDLERS: dict[str, Callable[[Daemon, Control], None]] = {
    "drophost": Daemon._do_drophost,
    "droptest": Daemon._do_droptest,
    "renamehost": Daemon._do_renamehost,
    "renametest": Daemon._do_renametest,
    "reload": Daemon._do_reload,
    "logrotate": Daemon._do_logrotate,
    "shutdown": Daemon._do_shutdown,
    "idle": Daemon._do_idle,
}
