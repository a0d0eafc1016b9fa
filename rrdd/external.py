"""The --extra-script bridge: the tests of --extra-tests are read by a site's own script.

Per message (xymond_rrd's way), rrdd writes the message to a private temporary file and
runs ``SCRIPT HOST TEST FILE`` (an argument list, never a shell). The script prints::

    DS:temperature:GAUGE:600:-30:50      one line per data source
    DS:wind:GAUGE:600:0:U
    weather.rrd                          the file, in the host's directory
    21:4                                 the values, in DS order

and may go on with more file names and values lines (reusing the DS list) or a new DS
list. With --extra-persistent the script is started once and reads requests on stdin::

    HOST TEST LENGTH\\n<LENGTH bytes: the message>\\n

answering each with the same lines and then a line holding only ``.``.

Scripts run in worker threads, at most `workers` at once and one at a time per host and
test (so a host's values stay in time order). Their updates are handed to the main
thread, which writes them through the same cache as every other update; ingest goes on
while scripts run.

A message's answer has a time limit, which holds whatever the script leaves behind: at
the limit the script's process group is killed and its output is read no further, even
if something it started in a session of its own (``setsid``) keeps it open. What the
script printed by then is used. An answer is at most MAX_OUTPUT bytes: past that the
script is killed and the whole answer refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from rrdd.channel import Message
from rrdd.schema import Schema, Update, rrdname

log = logging.getLogger("rrdd.external")

END = b"."  # the line that ends an answer in persistent mode
MAX_OUTPUT = 4 << 20  # bytes of one message's answer; a real one is a few KB
MAX_PROBLEMS = 3  # problems of one answer named in the log; the others are counted


@dataclass
class Result:
    msg: Message
    generation: int
    updates: list[Update] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timed_out: bool = False
    oversize: bool = False  # the answer was refused for its size


def parse_output(text: str) -> tuple[list[Update], list[str]]:
    """The updates a script's output asks for, and what was wrong with it (the first
    MAX_PROBLEMS problems, then how many more there were).

    Blank lines are skipped (xymond_rrd takes one as an empty file name and pairs every
    later name with the wrong values line).
    """
    updates: list[Update] = []
    problems: list[str] = []
    more = 0

    def problem(text: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        else:
            more += 1

    defs: list[str] = []
    new_defs = True  # the next DS line starts a new list
    name: str | None = None
    for line in text.splitlines():
        line = line.strip("\r")
        if not line.strip():
            continue
        if line[:3].upper() == "DS:" and name is None:
            if new_defs:
                defs, new_defs = [], False
            defs.append("DS:" + line[3:])
        elif name is None:
            name, new_defs = rrdname(line), True
        else:
            values = tuple(line.split(":"))
            if not defs:
                problem(f"{name[:80]}: no DS lines before it")
            elif len(values) != len(defs):
                problem(f"{name[:80]}: {len(values)} values for {len(defs)} DS: {line[:80]!r}")
            else:
                updates.append(Update(name, Schema(tuple(defs)), values, params=(name,)))
            name = None
    if name is not None:
        problem(f"{name[:80]}: no values line after it")
    if more:
        problems.append(f"{more} more problems")
    return updates, problems


class ExtraScripts:
    """Runs the extra script for messages and collects what it answers."""

    def __init__(
        self,
        script: str,
        tests: tuple[str, ...],
        *,
        tmpdir: str | None,
        timeout: float,
        workers: int,
        persistent: bool,
        notify: Callable[[], None] = lambda: None,
    ):
        self.script = script
        self.tests = frozenset(tests)
        self.tmpdir = tmpdir
        self.timeout = timeout
        self.persistent = persistent
        self.notify = notify
        self._pool = ThreadPoolExecutor(1 if persistent else workers, "extra-script")
        self._results: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified as each message is answered
        self._running: set[tuple[str, str]] = set()
        self._waiting: dict[tuple[str, str], deque[tuple[Message, int]]] = {}
        self._generation: dict[str, int] = {}
        self._unfinished = 0
        self._server: _Persistent | None = None

    def wants(self, handler_id: str) -> bool:
        return handler_id in self.tests

    def submit(self, msg: Message) -> None:
        key = (msg.hostname, msg.testname)
        job = (msg, self._generation.get(msg.hostname, 0))
        with self._lock:
            self._unfinished += 1
            if key in self._running:
                self._waiting.setdefault(key, deque()).append(job)
                return
            self._running.add(key)
        self._pool.submit(self._run, *job)

    def forget(self, host: str) -> None:
        """drophost/renamehost: answers still to come for this host are thrown away."""
        self._generation[host] = self._generation.get(host, 0) + 1

    def results(self) -> list[Result]:
        """The answers that arrived, for the current generation of their host."""
        out: list[Result] = []
        while True:
            try:
                r = self._results.get_nowait()
            except queue.Empty:
                return out
            if r.generation == self._generation.get(r.msg.hostname, 0):
                out.append(r)

    def busy(self) -> bool:
        with self._lock:
            return self._unfinished > 0

    def close(self) -> None:
        """Wait for every submitted message to be answered (each within its time limit)."""
        with self._idle:
            self._idle.wait_for(lambda: self._unfinished == 0)
        self._pool.shutdown(wait=True)
        if self._server is not None:
            self._server.stop()

    # --- worker threads ----------------------------------------------------------------

    def _run(self, msg: Message, generation: int) -> None:
        result = Result(msg, generation)
        try:
            output = self._ask(msg, result)
            result.updates, problems = parse_output(output)
            result.problems += problems
        except Exception as e:  # the bridge must outlive any script
            result.problems.append(f"{type(e).__name__}: {e}")
        self._results.put(result)
        self.notify()
        key = (msg.hostname, msg.testname)
        with self._lock:
            self._unfinished -= 1
            self._idle.notify_all()
            waiting = self._waiting.get(key)
            if not waiting:
                self._waiting.pop(key, None)
                self._running.discard(key)
                return
            job = waiting.popleft()
        self._pool.submit(self._run, *job)

    def _ask(self, msg: Message, result: Result) -> str:
        body = msg.body.encode("utf-8", "surrogateescape")
        if self.persistent:
            if self._server is None:
                self._server = _Persistent(self.script)
            return self._server.ask(msg.hostname, msg.testname, body, self.timeout, result)
        fd, path = tempfile.mkstemp(prefix="rrd_msg_", dir=self.tmpdir)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            return self._once([self.script, msg.hostname, msg.testname, path], result)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _once(self, argv: list[str], result: Result) -> str:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
        )
        assert proc.stdout is not None
        done = False
        try:
            with proc.stdout:
                out = _read_answer(proc, proc.stdout.fileno(), self.timeout, result)
            done = not (result.timed_out or result.oversize)
        finally:
            if not done:
                _kill(proc)
            proc.wait()  # it has exited, or been killed
        return out.decode("utf-8", "surrogateescape")


def _read_answer(proc: subprocess.Popen[bytes], fd: int, timeout: float, result: Result) -> bytes:
    """What a script run for one message printed on `fd`, until it has closed its output
    and exited, within `timeout` seconds and MAX_OUTPUT bytes. Past a limit, `result`
    says which, and the caller kills the script."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:  # its output is closed: it has until the limit to exit
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
                return bytes(out)
            except subprocess.TimeoutExpired:
                break
        out += chunk
        if len(out) > MAX_OUTPUT:
            _oversize(result)
            return b""
    result.timed_out = True
    result.problems.append(
        f"killed after its time limit of {timeout:g} s"
        if proc.poll() is None
        else f"its output was still open at its time limit of {timeout:g} s (held by a "
        "process it started)"
    )
    return bytes(out)


def _oversize(result: Result) -> None:
    result.oversize = True
    result.problems.append(f"killed: it printed more than {MAX_OUTPUT} bytes, all refused")


class _Persistent:
    """One long-running script that answers requests on stdin/stdout."""

    def __init__(self, script: str):
        self.script = script
        self.proc: subprocess.Popen[bytes] | None = None
        self.buf = b""

    def ask(self, host: str, test: str, body: bytes, timeout: float, result: Result) -> str:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [self.script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                start_new_session=True, env={**os.environ, "RRDD_EXTRA_PERSISTENT": "1"},
            )  # fmt: skip
            self.buf = b""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        request = b"%s %s %d\n%s\n" % (host.encode(), test.encode(), len(body), body)
        try:
            sent = self._send(request, deadline)
        except OSError as e:
            self.stop()
            result.problems.append(f"cannot send to the persistent script: {e}")
            return ""
        fd = self.proc.stdout.fileno()
        searched = 0  # the marker is looked for in what came since
        while sent:
            end = (b"\n" + self.buf).find(b"\n" + END + b"\n", searched)  # the marker line
            if 0 <= end <= MAX_OUTPUT:
                answer, self.buf = self.buf[:end], self.buf[end + len(END) + 1 :]
                return answer.decode("utf-8", "surrogateescape")
            if len(self.buf) > MAX_OUTPUT:
                _kill(self.proc)
                self.stop()
                _oversize(result)
                return ""
            searched = max(0, len(self.buf) - len(END) - 1)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                self.stop()
                result.problems.append("the persistent script exited")
                return ""
            self.buf += chunk
        _kill(self.proc)
        self.stop()
        result.timed_out = True
        result.problems.append(f"killed after its time limit of {timeout:g} s")
        return ""

    def _send(self, request: bytes, deadline: float) -> bool:
        """Write the request before the deadline (the script may read none of it): False
        if it could not be."""
        assert self.proc is not None and self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(request)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                return False
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
        return True

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                _kill(self.proc)
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the script and everything it started (it runs in its own session)."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
