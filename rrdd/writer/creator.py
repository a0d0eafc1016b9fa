"""New RRD files made in worker processes, so that a burst of them uses the other cores.

librrd holds the GIL for the whole of a create (100-400 us, most of it filling the new
file), so threads would not help. A cold start of a Xymon server makes thousands of
files, and a new host with 500 interfaces makes 500: with workers, rrdd reads on while
they are made, and their values wait in the cache meanwhile.

A worker is a fork of rrdd, not a new interpreter, which the user of --user may not be
able to read (a venv under /root, mode 0700). rrdd forks them at start-up, before it
drops root and before it starts any thread (a lock another thread holds at a fork stays
held in the child), and each drops root at once itself, so no file is made as root. A
worker started later, in place of one that died, is forked from rrdd as it is then. A
worker reads one request per line and answers one line, in order::

    request: ["/var/lib/xymon/rrd/web01/la.rrd", ["-b", "1795312861", "-s", "300", ...]]
    answer:  null   or   "<librrd's error, cut to 150 printable ASCII characters>"

An answer names no file (answers come in the order of the requests) and is short, so
the answers to every request a worker may have (MAX_IN_FLIGHT) fit in the pipe back:
a worker never waits for rrdd to read while rrdd waits to write to it.

A worker ignores SIGINT, SIGTERM and SIGHUP and ends when its request pipe closes, so a
signal to the whole process group never loses a file in the making: rrdd collects what
is under way, then closes the workers. A worker that dies was making the first file it
had not answered: that file is refused (its values are lost, with a log line), and
never made in rrdd's own process, which the same crash would kill with its whole cache.
The worker's other requests go to a new one.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import signal
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

from rrdd import privileges
from rrdd.events import Counts, Event
from rrdd.writer.store import Librrd, StoreError

log = logging.getLogger("rrdd.creator")

# Requests a worker may have unanswered: their answers (at most 2 * ERROR_MAX + 3 bytes
# each, every character escaped) fit in a pipe's 64 KiB, so the worker never waits for
# rrdd while rrdd waits for it.
MAX_IN_FLIGHT = 200
ERROR_MAX = 150

Request = tuple[str, Sequence[str]]


class Done(NamedTuple):
    path: str
    error: str | None  # why the file could not be made, or None
    crashed: bool = False  # a worker died making it: it must not be made again


class Creator:
    """One creator process and the requests it has not answered yet; it becomes the uid
    and gid of `become`, if given, at once. Raises OSError when it cannot be made."""

    def __init__(self, become: tuple[int, int] | None = None) -> None:
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:
            for fd in (requests_r, requests_w, answers_r, answers_w):
                os.close(fd)
            raise
        if self.pid == 0:
            _child(requests_r, answers_w, become)
        os.close(requests_r)
        os.close(answers_w)
        self.requests = open(requests_w, "wb")  # noqa: SIM115 (held for the worker's life)
        self.answers = answers_r
        os.set_blocking(answers_r, False)  # a nested collect may have read them already
        self.waiting: deque[Request] = deque()
        self._partial = b""

    def send(self, path: str, args: Sequence[str]) -> None:
        self.requests.write(json.dumps([path, list(args)]).encode() + b"\n")
        self.requests.flush()
        self.waiting.append((path, args))

    def read(self) -> list[Done] | None:
        """The answers that have come (call when they are readable); None when it died."""
        try:
            data = os.read(self.answers, 1 << 16)
        except BlockingIOError:
            return []
        if not data:
            return None
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [Done(self.waiting.popleft()[0], json.loads(line)) for line in lines]

    def close(self) -> str:
        """End the worker (an idle one leaves when its pipe closes); how it ended."""
        with contextlib.suppress(OSError):
            self.requests.close()
        os.close(self.answers)
        _, status = os.waitpid(self.pid, 0)  # no timeout: a timed wait fails under faketime
        code = os.waitstatus_to_exitcode(status)
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _child(requests: int, answers: int, become: tuple[int, int] | None) -> NoReturn:
    """The worker's side of the fork. It only reads, creates and answers: no logging,
    nothing a lock of rrdd's other threads (if it had any by then) guards."""
    code = 1
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        signal.set_wakeup_fd(-1)
        if become is not None:
            privileges.become(*become)
        gc.disable()  # the collector would touch, and so copy, every object rrdd had
        # rrdd's other descriptors (its channel, sockets, the other workers' pipes) are
        # not this process's to hold open: stdout and stderr are kept for a crash's words.
        low = 0
        for fd in sorted({1, 2, requests, answers}):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        serve(requests, answers)
        code = 0
    finally:
        os._exit(code)


def serve(requests: int, answers: int) -> None:
    """A worker: create each file asked for, answer each in order."""
    store = Librrd()
    with open(requests, "rb") as lines:
        for line in lines:
            path, args = json.loads(line)
            try:
                store.create(path, args)
                error = None
            except StoreError as e:
                error = "".join(c if " " <= c <= "~" else "?" for c in str(e)[:ERROR_MAX])
            os.write(answers, json.dumps(error).encode() + b"\n")  # < PIPE_BUF: whole


class Creators:
    """A few creator processes, each dropping root to `become` (uid, gid) if started as
    root; requests go to the least busy.

    Workers are started by start(), or else at the first file, and one is started in
    place of each that dies. `cannot_start` holds why one could not be (the system
    refused a process or a pipe): the request is answered with that error and the next
    one tries again, and rrdd ends with a non-zero exit status, as files were lost."""

    def __init__(
        self,
        workers: int,
        counts: Counts | None = None,
        become: tuple[int, int] | None = None,
    ):
        self.size = workers
        self.counts = Counts() if counts is None else counts
        self.become = become
        self.workers: list[Creator] = []
        self.cannot_start: str | None = None
        self._finished: list[Done] = []

    def start(self) -> None:
        """Start every worker now; raises OSError if one cannot be."""
        while len(self.workers) < self.size:
            self.workers.append(self._new_worker())

    def _new_worker(self) -> Creator:
        return Creator(self.become if os.geteuid() == 0 else None)

    def submit(self, path: str, args: Sequence[str]) -> None:
        while True:
            worker = self._least_busy()
            if worker is None:
                self._finished.append(Done(path, self.cannot_start))
                return
            try:
                worker.send(path, args)
                return
            except OSError:
                self._died(worker)

    def _least_busy(self) -> Creator | None:
        """A worker with room for one more request; None if none can be started."""
        while True:
            while len(self.workers) < self.size:
                try:
                    self.workers.append(self._new_worker())
                except OSError as e:
                    if self.cannot_start is None:
                        log.error("Cannot start a process to create RRD files: %s", e)
                    self.cannot_start = f"cannot start a process to create RRD files: {e}"
                    break
            if not self.workers:
                return None
            worker = min(self.workers, key=lambda w: len(w.waiting))
            if len(worker.waiting) < MAX_IN_FLIGHT:
                return worker
            self._collect(timeout=None)

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
        busy = {w.answers: w for w in self.workers if w.waiting}
        if not busy:
            return
        readable, _, _ = select.select(list(busy), [], [], timeout)
        for fd in readable:
            worker = busy[fd]
            if worker not in self.workers:
                continue  # found dead since the select (a send to it failed, or a nested collect)
            answers = worker.read()
            if answers is None:
                self._died(worker)
            else:
                self._finished += answers

    def _died(self, worker: Creator) -> None:
        """A worker has ended: refuse the file it was making, pass on the others."""
        self.workers.remove(worker)
        how = worker.close()
        if not worker.waiting:
            log.warning("A file creation worker ended (%s) with nothing to do", how)
            return
        path, _ = worker.waiting.popleft()
        self.counts.add(Event.CREATOR_CRASHES)
        error = f"the process creating it died ({how}): refused, and not made by rrdd"
        self._finished.append(Done(path, error, crashed=True))
        rest = list(worker.waiting)
        worker.waiting.clear()
        for request in rest:
            self.submit(*request)

    def close(self) -> None:
        self.finished(wait=True)
        for worker in self.workers:
            worker.close()
        self.workers = []
