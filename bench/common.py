"""What the write benchmarks share: RRD files made ahead, rrdd run in-process, rrdcached.

- `prepare()` creates the files rrdd would create for a stream (through rrdd's own
  RrdWriter, start time T0 - 10 s) and records the librrd calls rrdd's cache would make
  for that stream, without making them: the raw loops replay exactly those calls.
- `run_rrdd()` runs rrdd's real main loop (Daemon over RrdWriter, as cli.main builds
  them) on a stream file, in this process; `run_workers()` runs rrdd --workers: its
  router in this process and the workers forked from it. `Timer` takes the wall and
  CPU time.
- `shifted()` moves recorded calls later in time, so that runs one after the other can
  use the same files: each run writes newer values than the one before.
- `Rrdcached` starts a private rrdcached (journal, -w 3600) on a Unix socket, and
  `Client` is a minimal client for its line protocol (BATCH, STATS, FLUSHALL).
"""

from __future__ import annotations

import atexit
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from feed import T0

from rrdd.channel import ChannelParser, Message
from rrdd.daemon import Daemon, load_rras, make_context, make_routes
from rrdd.dispatch import Dispatcher
from rrdd.events import Counts
from rrdd.parsers import load_builtins
from rrdd.settings import load_settings
from rrdd.shards import Life, Router, work
from rrdd.writer.rrdcached import Rrdcached as RrdcachedStore
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.writer.store import Librrd

Call = tuple[str, list[str]]  # one librrd update call: path, rows
RRDD = str(Path(sys.executable).with_name("rrdd"))


class Recorder(Librrd):
    """Creates files as rrdd does; records each write instead of making it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def send(self, batch: Sequence[tuple[str, str]]) -> None:
        self.calls.extend((path, rows.split("\n")) for path, rows in batch)


def prepare(
    rrddir: Path, data: bytes, cache: bool = True, env: dict[str, str] | None = None
) -> list[Call]:
    """Create the stream's files in `rrddir`; return the librrd calls rrdd would make.

    With `cache` rrdd's default policy groups the values (12 per call, the rest at the
    end); without, there is one call per value in stream order (--no-cache). `env` is
    the environment rrdd would run with (TEST2RRD and the like).
    """
    settings = load_settings({"rrddir": str(rrddir)}, env or {})
    store = Recorder()
    stats = Counts()
    rras = load_rras(settings)
    writer = RrdWriter(rrddir, rras, stats, store=store, cache=cache, clock=lambda: T0)
    dispatch(data, writer, stats, env)
    writer.close()
    return store.calls


def dispatch(data: bytes, writer: object, stats: Counts, env: dict[str, str] | None = None) -> None:
    """Feed a stream through the channel reader and the dispatcher to `writer`."""
    settings = load_settings({"rrddir": "/nonexistent"}, env or {})
    ctx = make_context(settings, writer)  # type: ignore[arg-type]
    dispatcher = Dispatcher(make_routes(settings), load_builtins(), ctx, writer, stats)  # type: ignore[arg-type]
    for item in ChannelParser(counts=stats).feed(data):
        if isinstance(item, Message):
            dispatcher.handle(item)


class Recording(RrdcachedStore):
    """The rrdcached store, keeping a reference to each batch it sends (one list append)."""

    def __init__(self, address: str, rrddir: str) -> None:
        super().__init__(address, rrddir)
        self.sent: list[Sequence[tuple[str, str]]] = []

    def send(self, batch: Sequence[tuple[str, str]]) -> None:
        super().send(batch)
        self.sent.append(batch)

    def calls(self) -> list[list[Call]]:
        """The batches sent, each file's rows as a list."""
        return [[(path, rows.split("\n")) for path, rows in batch] for batch in self.sent]


class Timer:
    """Wall and CPU seconds (user + system) of a `with` block: this process's CPU and
    that of its children that ended in the block (rrdd's workers), plus that of another
    process (an rrdcached) if given its pid; that one in 10 ms ticks."""

    def __init__(self, pid: int | None = None):
        self.pid = pid

    def __enter__(self) -> Timer:
        self.wall, self.cpu = -time.perf_counter(), -self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter()
        self.cpu += self._cpu()

    def _cpu(self) -> float:
        usage = [resource.getrusage(r) for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        own = sum(u.ru_utime + u.ru_stime for u in usage)
        return own + (0 if self.pid is None else cpu_of(self.pid))


def cpu_of(pid: int) -> float:
    """User + system seconds of a process, its ended threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_rrdd(
    rrddir: Path,
    stream: Path,
    *,
    cache: bool = True,
    store: object = None,
    pid: int | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Timer, Counter[str]]:
    """Time rrdd's main loop reading the stream file, writing it and shutting down."""
    settings = load_settings({"rrddir": str(rrddir), "no_cache": not cache}, env or {})
    stats = Counts()
    writer = RrdWriter(rrddir, load_rras(settings), stats, store=store, cache=cache)  # type: ignore[arg-type]
    daemon = Daemon(settings, writer, stats)
    fd = os.open(stream, os.O_RDONLY)
    try:
        with Timer(pid) as timer:
            daemon.run(fd)
        return timer, Counter(stats.totals())
    finally:
        os.close(fd)


def run_workers(
    stream: Path,
    workers: int,
    options: dict[str, str],
    env: dict[str, str],
    pid: int | None = None,
    life: Life = work,
) -> tuple[Timer, Counter[str]]:
    """Time rrdd --workers (settings from `options` and `env`, each worker living `life`)
    from the first read to the last worker's exit; their start-up is left out, as
    run_rrdd leaves out the daemon's construction. The counts are the workers' sums."""
    settings = load_settings({**options, "workers": str(workers)}, env)
    router = Router(settings.max_message, Counts())
    if not router.start(workers, settings, load_rras(settings), lambda: settings, life):
        raise RuntimeError("rrdd's workers did not start")
    fd = os.open(stream, os.O_RDONLY)
    try:
        with Timer(pid) as timer:
            router.run(fd)
        return timer, router.merged
    finally:
        os.close(fd)


def shifted(calls: Sequence[tuple[str, Sequence[str]]], seconds: int) -> list[Call]:
    """The same calls with every timestamp `seconds` later."""
    out = []
    for path, rows in calls:
        moved = []
        for row in rows:
            ts, _, values = row.partition(":")
            moved.append(f"{int(ts) + seconds}:{values}")
        out.append((path, moved))
    return out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --- rrdcached -------------------------------------------------------------------------


class Rrdcached:
    """A private rrdcached in the foreground: journal on, values held for an hour."""

    def __init__(self, workdir: Path):
        self.sock = workdir / "rrdcached.sock"
        (workdir / "journal").mkdir(parents=True, exist_ok=True)
        argv = ["rrdcached", "-g", "-l", f"unix:{self.sock}", "-p", str(workdir / "pid")]
        argv += ["-b", str(workdir), "-j", str(workdir / "journal")]
        argv += ["-w", "3600", "-z", "1800", "-f", "7200", "-t", "4"]
        self.log = open(workdir / "rrdcached.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)  # also when a benchmark fails half-way
        deadline = time.monotonic() + 10
        while True:
            try:
                Client(self.sock).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"rrdcached did not start: see {self.log.name}") from None
                time.sleep(0.01)

    @property
    def address(self) -> str:
        return f"unix:{self.sock}"

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Stop the daemon; the seconds it took to exit."""
        started = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait()
        self.log.close()
        return time.perf_counter() - started


class Client:
    """The least an rrdcached client does: one connection, lines out, status lines in."""

    def __init__(self, sock: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(sock))
        self.reader = self.sock.makefile("rb")

    def command(self, line: str) -> list[str]:
        """Send one command; its status line and the lines that follow it."""
        self.sock.sendall(line.encode() + b"\n")
        return self._answer()

    def _answer(self) -> list[str]:
        status = self.reader.readline().decode()
        count = int(status.split(" ", 1)[0])
        return [status] + [self.reader.readline().decode() for _ in range(max(0, count))]

    def batch(self, calls: Sequence[tuple[str, Sequence[str]]]) -> int:
        """One BATCH with an UPDATE line per value; the number of errors."""
        lines = "".join(
            [f"UPDATE {path} " + f"\nUPDATE {path} ".join(rows) + "\n" for path, rows in calls]
        )
        self.sock.sendall(b"BATCH\n" + lines.encode() + b".\n")  # one round trip, as rrdd
        self._answer()  # the go-ahead
        return len(self._answer()) - 1

    def stats(self) -> dict[str, int]:
        lines = self.command("STATS")[1:]
        return {k: int(v) for k, _, v in (line.strip().partition(": ") for line in lines)}

    def flush_all(self, values: int, timeout: float = 600) -> float:
        """FLUSHALL and wait until `values` more values are in the files; the seconds."""
        before = self.stats()["DataSetsWritten"]
        started = time.perf_counter()
        self.command("FLUSHALL")
        while time.perf_counter() - started < timeout:
            s = self.stats()
            if s["QueueLength"] == 0 and s["DataSetsWritten"] - before >= values:
                break
            time.sleep(0.005)
        return time.perf_counter() - started

    def close(self) -> None:
        self.reader.close()
        self.sock.close()
