"""How long the rrdd command takes to stop (SIGTERM to exit) with ~100k values pending.

    python bench/shutdown.py [HOSTS] [CYCLES] [--daemon-down]

The fleet stream (26 values per host and cycle; by default 400 hosts x 10 cycles =
104,000 values to 10,400 files, made beforehand by rrdd's create code; each mode writes
later in time than the one before) goes into rrdd's stdin through a pipe that stays
open, so rrdd does not stop at end of input. When the pipe is empty and rrdd has used no
CPU for 0.3 s, it gets SIGTERM; the time to its exit is printed.

- rrdcached mode: rrdd sends each read's values at once, so the pending values are held
  by the daemon (STATS: received and not yet written), and rrdd has only to say QUIT. For
  context, the daemon's own write-out of them (FLUSHALL) is timed after rrdd has gone.
- direct mode, for contrast: with fewer than 12 cycles, every value waits in rrdd's
  cache, and rrdd writes them all before it exits.
- --daemon-down also stops rrdcached (SIGKILL) after rrdd has connected and before the
  stream: rrdd then holds every value itself, and tries the daemon again at shutdown for
  up to 30 s (RrdWriter.close's patience) before it gives them up.

Target: <= 2 s with rrdcached and 100k pending values.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from common import RRDD, Client, Rrdcached, cpu_of, prepare
from feed import T0, fleet_stream


def wait_until_idle(proc: subprocess.Popen[bytes], quiet: float = 0.3) -> None:
    """Until the stdin pipe is empty and the process has used no CPU for `quiet` seconds."""
    assert proc.stdin is not None
    unread = array.array("i", [0])
    last, since = -1.0, time.monotonic()
    while True:
        fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, unread)
        cpu = cpu_of(proc.pid)
        if unread[0] or cpu != last:
            last, since = cpu, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.02)


def has_socket(pid: int) -> bool:
    """Whether the process has a socket open (rrdd's only one: its rrdcached connection)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        raise RuntimeError("rrdd stopped at start-up") from None
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                return True
    return False


def stop(proc: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    elapsed = time.perf_counter() - started
    assert proc.stdin is not None
    proc.stdin.close()
    return elapsed


def run(rrddir: Path, work: Path, data: bytes, mode: str) -> float:
    """rrdd's shutdown time in this mode; prints what it held and wrote."""
    argv = [RRDD, f"--rrddir={rrddir}"]
    daemon = None
    if mode != "direct":
        daemon = Rrdcached(Path(tempfile.mkdtemp(dir=work)))
        argv.append(f"--rrdcached={daemon.address}")
    log = (work / f"rrdd-{mode}.log").open("w+")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=log)
    assert proc.stdin is not None
    if daemon is not None and mode == "daemon down":
        while not has_socket(proc.pid):
            time.sleep(0.01)  # until rrdd has connected to rrdcached
        daemon.stop(signal.SIGKILL)
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
    except BrokenPipeError:
        log.seek(0)
        raise RuntimeError(f"rrdd stopped early: {log.read()[-2000:]}") from None
    wait_until_idle(proc)
    held = ""
    if daemon is not None and mode == "rrdcached":
        client = Client(daemon.sock)
        s = client.stats()
        held = f"; rrdcached holds {s['UpdatesReceived'] - s['DataSetsWritten']} values"
    seconds = stop(proc)
    log.seek(0)
    text = log.read()
    totals = dict(re.findall(r"(\w+) (\d+)", text.rsplit("Totals: ", 1)[-1]))
    lost = re.search(r"(\d+) values are lost", text)
    print(f"  {mode:12s} SIGTERM to exit: {seconds:6.2f} s (exit code {proc.returncode}){held}")
    print(f"{'':15s}rrdd: {totals.get('values_written', 0)} values written or sent to rrdcached")
    if lost:
        print(f"{'':15s}rrdd gave up {lost.group(1)} values")
    if daemon is not None and mode == "rrdcached":
        received = client.stats()["UpdatesReceived"]
        flush = client.flush_all(received)
        print(f"{'':15s}(then the daemon's FLUSHALL of them: {flush:.2f} s)")
        client.close()
    if daemon is not None:
        daemon.stop()
    return seconds


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    hosts, cycles = (int(a) for a in (args + ["400", "10"][len(args) :])[:2])
    work = Path(tempfile.mkdtemp(prefix="rrdd-shutdown-"))
    try:
        rrddir = work / "rrd"
        prepare(rrddir, fleet_stream(hosts, 1))
        print(f"shutdown, rrdd command: {hosts} hosts x {cycles} cycles to existing files, then")
        print("SIGTERM; target <= 2 s with rrdcached")
        modes = ["rrdcached", "direct"]
        if "--daemon-down" in sys.argv:
            modes.append("daemon down")
        seconds = {}
        for k, mode in enumerate(modes, 1):  # each mode later in time on the same files
            data = fleet_stream(hosts, cycles, T0 + 300 * cycles * k)
            seconds[mode] = run(rrddir, work, data, mode)
        print(f"ratios: rrdcached / 2 s target {seconds['rrdcached'] / 2:.2f}; ", end="")
        print(f"direct / rrdcached {seconds['direct'] / seconds['rrdcached']:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
