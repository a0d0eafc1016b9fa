"""--processor=CMD: a copy of every accepted update, one line each, on CMD's stdin.

The line is xymond_rrd's: ``<template> <ts>:<values> <host> <name parts...>``, e.g.
``pct:used 1795313706:50:500 h1 disk ,var,log``. CMD is run as it is, with no
arguments and no shell. Lines are buffered (RRD_EXTPROC_BUFSIZ bytes, default 8192)
unless RRD_EXTPROC_DOFLUSH is set; everything is flushed and the pipe closed at
shutdown. A processor that dies is started again, at most once every 10 seconds, and
ingest never waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from collections import Counter
from collections.abc import Callable

from rrdd.schema import Update

log = logging.getLogger("rrdd.processor")

RESTART_SECONDS = 10.0


class Processor:
    def __init__(
        self,
        cmd: str,
        stats: Counter[str],
        *,
        bufsize: int = 8192,
        flush_each: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cmd = cmd
        self.stats = stats
        self.bufsize = bufsize
        self.flush_each = flush_each
        self.clock = clock
        self.proc: subprocess.Popen[bytes] | None = None
        self._last_start = -RESTART_SECONDS
        self._start()

    def _start(self) -> bool:
        self._last_start = self.clock()
        try:
            self.proc = subprocess.Popen([self.cmd], stdin=subprocess.PIPE, bufsize=self.bufsize)
        except OSError as e:
            self.proc = None
            log.error("External processor '%s' cannot be started: %s", self.cmd, e)
            return False
        log.info("External processor '%s' started", self.cmd)
        return True

    def accept(self, host: str, update: Update, timestamp: int) -> None:
        """The writer's hook: one line per accepted update."""
        self.send(update.processor_line(host, timestamp))

    def send(self, line: str) -> None:
        data = line.encode("utf-8", "surrogateescape") + b"\n"
        for _ in range(2):  # once more into a restarted processor
            if not self._ready():
                break
            assert self.proc is not None and self.proc.stdin is not None
            try:
                self.proc.stdin.write(data)
                if self.flush_each:
                    self.proc.stdin.flush()
                self.stats["processor_lines"] += 1
                return
            except OSError as e:
                log.warning("External processor '%s' write failed: %s", self.cmd, e)
                self._close()
        self.stats["processor_lines_lost"] += 1

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
        with contextlib.suppress(OSError):  # a dead reader makes the final flush fail
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Flush, close the pipe and wait for the processor to finish reading."""
        self._close()
        log.info("External processor stopped")
