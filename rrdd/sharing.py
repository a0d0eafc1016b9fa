"""One /metrics for every rrdd of a Xymon, through snapshots in state_dir.

The stock Xymon set-up runs two rrdd, on the status and on the data channel, and both
read one configuration file: both are told the same metrics_listen, and only one process
can listen on a port. So each rrdd process (with --workers, the router, which speaks for
its workers) writes its figures (`metrics.Figures`) to ``<state_dir>/<pid>.json`` once a
second when they have changed, as a temporary file renamed over the old one, so that a
reader never sees half a file. The process that has the port serves the merge of its
own figures and those of every live process whose snapshot names the same address, and
removes the snapshots of processes that have gone. A process that cannot listen says
why, once, and tries again every metrics_retry seconds, so that when the serving one
stops another takes the port over. A clean exit removes the process's snapshot.

Nothing here can stop or slow ingestion: the snapshots and the retries run in a thread of
their own, and a failure is logged and outlived.

A snapshot's process is live when its pid exists and, where /proc says, started when
the snapshot says: a pid used again by another program does not count.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rrdd.metrics import Figures, ListenError, Metrics

log = logging.getLogger("rrdd.metrics")

SNAPSHOT_SECONDS = 1.0
_SNAPSHOT = re.compile(r"([0-9]+)\.json")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one process wrote to state_dir."""

    pid: int
    address: str  # its metrics_listen
    started: int | None  # its start, in clock ticks after boot (/proc), when known
    serving: bool  # it had the port when it wrote this
    figures: Figures


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks after boot; None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold blanks and ")"
    try:
        return int(fields[19])  # field 22 of proc(5); the fields here start at the third
    except (IndexError, ValueError):
        return None


def alive(pid: int, started: int | None) -> bool:
    """Whether process `pid` runs, and is the one that started at `started` (when known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    now = start_ticks(pid)
    return started is None or now is None or now == started


class StateDir:
    """The snapshots in one state_dir: this process's, and the others' of one address."""

    def __init__(self, path: Path, address: str, pid: int | None = None):
        self.path = path
        self.address = address
        self.pid = os.getpid() if pid is None else pid
        self.file = path / f"{self.pid}.json"
        self._started = start_ticks(self.pid)

    def prepare(self) -> None:
        """Make the directory if it is missing; OSError when it cannot be."""
        self.path.mkdir(mode=0o755, parents=True, exist_ok=True)

    def write(self, figures: Figures, serving: bool) -> None:
        """Put this process's snapshot in place, whole; OSError when it cannot be."""
        data = {
            "pid": self.pid,
            "address": self.address,
            "started": self._started,
            "serving": serving,
            "figures": figures.to_json(),
        }
        temp = self.path / f".{self.pid}.json.tmp"  # not a snapshot's name: never read
        temp.write_text(json.dumps(data))
        os.replace(temp, self.file)

    def others(self) -> list[Snapshot]:
        """The snapshots of the other live processes with this address, in pid order.
        Those of processes that have gone are removed; unreadable ones are passed over."""
        try:
            names = sorted(os.listdir(self.path))
        except OSError:
            return []
        found: list[Snapshot] = []
        for name in names:
            m = _SNAPSHOT.fullmatch(name)
            if m is None or int(m.group(1)) == self.pid:
                continue
            pid = int(m.group(1))
            path = self.path / name
            try:
                snapshot = _read(path, pid)
            except FileNotFoundError:
                continue  # its process has just removed it
            except (OSError, ValueError) as e:
                log.debug("Snapshot %s passed over: %s", path, e)
                if not alive(pid, None):
                    _remove(path)
                continue
            if not alive(pid, snapshot.started):
                _remove(path)
            elif snapshot.address == self.address:
                found.append(snapshot)
        return found

    def remove(self) -> None:
        _remove(self.file)


def _read(path: Path, pid: int) -> Snapshot:
    data = json.loads(path.read_bytes())
    try:
        snapshot = Snapshot(
            pid=int(data["pid"]),
            address=str(data["address"]),
            started=None if data["started"] is None else int(data["started"]),
            serving=bool(data["serving"]),
            figures=Figures.from_json(data["figures"]),
        )
    except (TypeError, KeyError) as e:
        raise ValueError(f"not an rrdd snapshot: {e!r}") from None
    if snapshot.pid != pid:
        raise ValueError(f"the snapshot of pid {snapshot.pid} under another name")
    return snapshot


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # FileNotFoundError: the other rrdd came first
        path.unlink()


class SharedMetrics:
    """/metrics on `address` for this process and the other rrdd of `state`, or a wait
    for the port: `start` once root is dropped, `close` at exit."""

    def __init__(self, metrics: Metrics, address: str, state: StateDir | None, retry: float):
        self.metrics = metrics
        self.address = address
        self.state = state
        self.retry = retry
        metrics.siblings = self.siblings
        self._complaint = ""  # what was last said about not serving
        self._written: tuple[Figures, bool] | None = None
        self._write_problem = ""
        self._next_try = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def siblings(self) -> list[Figures]:
        """The other processes' figures, for the scrape."""
        return [] if self.state is None else [s.figures for s in self.state.others()]

    def start(self) -> None:
        """The first snapshot, the first try at the port, and the thread that keeps
        both up to date."""
        if self.state is not None:
            try:
                self.state.prepare()
            except OSError as e:
                log.warning(
                    "Cannot use state_dir %s (%s): /metrics will show this process alone",
                    self.state.path,
                    e.strerror or e,
                )
                self.state = None
        self._snapshot()  # before the port: whoever fails to get it finds this
        self.try_serve()
        self._thread = threading.Thread(target=self._run, name="rrdd-metrics", daemon=True)
        self._thread.start()

    def try_serve(self) -> None:
        """Listen on the address, unless this process already does; say once why not."""
        if self.metrics.serving:
            return
        try:
            self.metrics.serve(self.address)
        except ListenError as e:
            self._next_try = time.monotonic() + self.retry
            self._complain(e)
            return
        took_over = bool(self._complaint)
        self._complaint = ""
        log.info("Serving /metrics on %s%s", self.address, " (taken over)" if took_over else "")
        self._snapshot()

    def _complain(self, e: ListenError) -> None:
        others = self.state.others() if e.in_use and self.state is not None else []
        if others:
            key = "sibling"
            level = logging.INFO
            pids = ", ".join(str(s.pid) for s in others)
            text = (
                f"/metrics on {self.address} is served by another rrdd process "
                f"({'pid' if len(others) == 1 else 'one of pids'} {pids}), which shows this "
                f"process's figures as well; this one takes the port over if that one stops "
                f"(tried every {self.retry:g} s)"
            )
        else:
            key = text = f"{e}; going on without it, trying again every {self.retry:g} s"
            level = logging.WARNING
        if key != self._complaint:
            self._complaint = key
            log.log(level, "%s", text)
        else:
            log.debug("Still cannot serve /metrics on %s: %s", self.address, e)

    def _run(self) -> None:
        failed = False
        while not self._stop.wait(SNAPSHOT_SECONDS):
            try:
                self._snapshot()
                if not self.metrics.serving and time.monotonic() >= self._next_try:
                    self.try_serve()
            except Exception:
                # Whatever it is, it must not end the thread: say it once and go on.
                if not failed:
                    log.exception("Sharing /metrics failed; trying again each second")
                failed = True

    def _snapshot(self) -> None:
        """This process's snapshot, when its figures have changed (or it has gone)."""
        if self.state is None:
            return
        current = (self.metrics.figures(), self.metrics.serving)
        if current == self._written and self.state.file.exists():
            return
        try:
            self.state.write(*current)
        except OSError as e:
            problem = f"{e.strerror or e}"
            if problem != self._write_problem:
                log.warning("Cannot write %s: %s", self.state.file, problem)
            self._write_problem = problem
            return
        self._written, self._write_problem = current, ""

    def close(self) -> None:
        """Stop the thread and the server, and remove this process's snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.metrics.close()
        if self.state is not None:
            self.state.remove()
