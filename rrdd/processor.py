"""--processor=CMD: a copy of every accepted update, one line each, on CMD's stdin.

The line is xymond_rrd's: ``<template> <ts>:<values> <host> <name parts...>``, e.g.
``pct:used 1795313706:50:500 h1 disk ,var,log``. CMD is run as it is, with no
arguments and no shell. Lines are buffered (RRD_EXTPROC_BUFSIZ bytes, default 8192)
unless RRD_EXTPROC_DOFLUSH is set; everything is flushed and the pipe closed at
shutdown. A processor that dies is started again, at most once every 10 seconds.

rrdd never waits for the processor: the pipe is non-blocking, lines wait in rrdd while
the pipe is full, and beyond `MAX_BACKLOG` bytes the oldest are dropped and counted. At
shutdown it gets `CLOSE_SECONDS` to read what is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import time
from collections.abc import Callable

from rrdd.events import Counts, Event
from rrdd.schema import Update

log = logging.getLogger("rrdd.processor")

RESTART_SECONDS = 10.0
MAX_BACKLOG = 4 << 20  # bytes of lines waiting for a slow processor
CLOSE_SECONDS = 10.0


class Processor:
    def __init__(
        self,
        cmd: str,
        counts: Counts,
        *,
        bufsize: int = 8192,
        flush_each: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cmd = cmd
        self.counts = counts
        self.bufsize = bufsize
        self.flush_each = flush_each
        self.clock = clock
        self.proc: subprocess.Popen[bytes] | None = None
        self.backlog = bytearray()
        self._last_start = -RESTART_SECONDS
        self._dropped_logged = -60.0
        self._start()

    def _start(self) -> bool:
        self._last_start = self.clock()
        try:
            self.proc = subprocess.Popen([self.cmd], stdin=subprocess.PIPE, bufsize=0)
        except OSError as e:
            self.proc = None
            log.error("External processor '%s' cannot be started: %s", self.cmd, e)
            return False
        assert self.proc.stdin is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        log.info("External processor '%s' started", self.cmd)
        return True

    def accept(self, host: str, update: Update, timestamp: int) -> None:
        """The writer's hook: one line per accepted update."""
        self.send(update.processor_line(host, timestamp))

    def send(self, line: str) -> None:
        self.backlog += line.encode("utf-8", "surrogateescape") + b"\n"
        self.counts.add(Event.PROCESSOR_LINES)
        if self.flush_each or len(self.backlog) >= self.bufsize:
            self._push()
        if len(self.backlog) > MAX_BACKLOG:
            self._drop_oldest()

    def _push(self) -> None:
        """Write as much of the backlog as the pipe takes now."""
        if not self._ready():
            return
        assert self.proc is not None and self.proc.stdin is not None
        try:
            written = os.write(self.proc.stdin.fileno(), self.backlog)
        except BlockingIOError:
            return  # the pipe is full: the lines wait
        except OSError as e:
            log.warning("External processor '%s' write failed: %s", self.cmd, e)
            self._close()
            return
        del self.backlog[:written]

    def _drop_oldest(self) -> None:
        # Down to half the limit, so a stuck processor costs one big cut now and then.
        cut = self.backlog.find(b"\n", len(self.backlog) - MAX_BACKLOG // 2) + 1
        self.counts.add(Event.PROCESSOR_LINES_LOST, self.backlog.count(b"\n", 0, cut))
        del self.backlog[:cut]
        now = self.clock()
        if now - self._dropped_logged > 60:
            self._dropped_logged = now
            log.error("External processor '%s' does not keep up: lines dropped", self.cmd)

    def _ready(self) -> bool:
        if self.proc is not None:
            if self.proc.poll() is None:
                return True
            log.warning("External processor '%s' exited", self.cmd)
            self._close()
        return self.clock() - self._last_start >= RESTART_SECONDS and self._start()

    def _close(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Hand over what is left (for at most CLOSE_SECONDS), close the pipe, wait."""
        deadline = time.monotonic() + CLOSE_SECONDS
        while self.backlog and self.proc is not None and time.monotonic() < deadline:
            assert self.proc.stdin is not None
            select.select([], [self.proc.stdin], [], max(0.0, deadline - time.monotonic()))
            self._push()
        if self.backlog:
            self.counts.add(Event.PROCESSOR_LINES_LOST, self.backlog.count(b"\n"))
            log.error(
                "External processor '%s': %d lines not delivered",
                self.cmd,
                self.backlog.count(b"\n"),
            )
        self._close()
        log.info("External processor stopped")
