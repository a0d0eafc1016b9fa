"""New RRD files made in worker processes, so that a burst of them uses the other cores.

librrd holds the GIL for the whole of a create (100-400 us, most of it filling the new
file), so threads would not help. A cold start of a Xymon server makes thousands of
files, and a new host with 500 interfaces makes 500: with workers, rrdd reads on while
they are made, and their values wait in the cache meanwhile.

Each worker is ``python -m rrdd.writer.creator``. It reads one request per line on
stdin, creates the file and answers one line on stdout, in order::

    request: ["/var/lib/xymon/rrd/web01/la.rrd", ["-b", "1795312861", "-s", "300", ...]]
    answer:  null   or   "<librrd's error, cut to 150 printable ASCII characters>"

An answer names no file (answers come in the order of the requests) and is short, so
the answers to every request a worker may have (MAX_IN_FLIGHT) fit in the pipe back:
a worker never waits for rrdd to read while rrdd waits to write to it.

A worker ignores SIGINT and SIGTERM and ends when its stdin closes, so a signal to the
whole process group never loses a file in the making: rrdd collects what is under way,
then closes the workers. If a worker dies anyway, rrdd makes its files itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Sequence

from rrdd.writer.store import Librrd, StoreError

log = logging.getLogger("rrdd.creator")

# Requests a worker may have unanswered: their answers (at most 2 * ERROR_MAX + 3 bytes
# each, every character escaped) fit in a pipe's 64 KiB, so the worker never waits for
# rrdd while rrdd waits for it.
MAX_IN_FLIGHT = 200
ERROR_MAX = 150

Done = tuple[str, str | None]  # path, and the error if the file could not be made


class Worker:
    """One creator process and the requests it has not answered yet."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rrdd.writer.creator"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.waiting: deque[tuple[str, Sequence[str]]] = deque()
        self._partial = b""

    def send(self, path: str, args: Sequence[str]) -> None:
        self.stdin.write(json.dumps([path, list(args)]).encode() + b"\n")
        self.stdin.flush()
        self.waiting.append((path, args))

    def read(self) -> list[Done] | None:
        """The answers that have come (call when stdout is readable); None when it died."""
        data = os.read(self.stdout.fileno(), 1 << 16)
        if not data:
            return None
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [(self.waiting.popleft()[0], json.loads(line)) for line in lines]

    def close(self) -> None:
        """End an idle worker: it leaves when its stdin closes."""
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self.proc.wait()  # no timeout: subprocess's polling sleep fails under faketime


class Creators:
    """A few creator processes, started at the first file; requests go to the least busy."""

    def __init__(self, workers: int):
        self.size = workers
        self.workers: list[Worker] = []
        self.local = Librrd()  # for the files of a worker that died
        self._finished: list[Done] = []

    def submit(self, path: str, args: Sequence[str]) -> None:
        while True:
            if not self.workers:
                self.workers = [Worker() for _ in range(self.size)]
            worker = min(self.workers, key=lambda w: len(w.waiting))
            if len(worker.waiting) < MAX_IN_FLIGHT:
                break
            self._collect(timeout=None)
        try:
            worker.send(path, args)
        except OSError:
            self._died(worker)
            self._finished.append(self._create_here(path, args))

    def busy(self) -> int:
        return sum(len(w.waiting) for w in self.workers)

    def finished(self, wait: bool = False) -> list[Done]:
        """The files made (or not) since the last call; with `wait`, all under way too."""
        self._collect(timeout=0)
        while wait and self.busy():
            self._collect(timeout=None)
        done, self._finished = self._finished, []
        return done

    def _collect(self, timeout: float | None) -> None:
        busy = {w.stdout.fileno(): w for w in self.workers if w.waiting}
        if not busy:
            return
        readable, _, _ = select.select(list(busy), [], [], timeout)
        for fd in readable:
            worker = busy[fd]
            answers = worker.read()
            if answers is None:
                self._died(worker)
            else:
                self._finished += answers

    def _died(self, worker: Worker) -> None:
        log.error("A file creation worker ended; rrdd makes its %d files", len(worker.waiting))
        self.workers.remove(worker)
        self._finished += [self._create_here(path, args) for path, args in worker.waiting]
        worker.waiting.clear()
        worker.close()

    def _create_here(self, path: str, args: Sequence[str]) -> Done:
        try:
            self.local.create(path, args)
        except StoreError as e:
            return path, str(e)
        return path, None

    def close(self) -> None:
        self.finished(wait=True)
        for worker in self.workers:
            worker.close()
        self.workers = []


def serve() -> None:
    """A worker: create each file asked for on stdin, answer each on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    store = Librrd()
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        path, args = json.loads(line)
        try:
            store.create(path, args)
            error = None
        except StoreError as e:
            error = "".join(c if " " <= c <= "~" else "?" for c in str(e)[:ERROR_MAX])
        out.write(json.dumps(error).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve()
