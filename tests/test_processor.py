"""--processor: the line stream, flushing, and restarts of a processor that dies."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from rrdd.events import Counts, Event
from rrdd.processor import MAX_BACKLOG, RESTART_SECONDS, Processor
from rrdd.schema import Schema, Update
from tests.helpers import T0, Log, wait_until
from tests.test_cli import cpu, libfaketime, send, start


def one_line_reader(tmp_path: Path) -> tuple[str, Path]:
    """A processor that copies one line to a file and exits."""
    out = tmp_path / "lines"
    script = tmp_path / "one-line.sh"
    script.write_text(f'#!/bin/sh\nread line\necho "$line" >> {out}\n')
    script.chmod(0o755)
    return str(script), out


def wait_for(path: Path, text: str) -> None:
    wait_until(lambda: path.exists() and text in path.read_text(), seconds=10)


def test_flushed_lines_arrive_while_rrdd_runs_and_a_dead_processor_restarts(
    tmp_path: Path,
) -> None:
    script, out = one_line_reader(tmp_path)
    now = [1000.0]
    counts = Counts()
    p = Processor(script, counts, flush_each=True, clock=lambda: now[0])
    p.send("la 1795312871:52 h1 la")
    wait_for(out, "la 1795312871:52 h1 la")  # RRD_EXTPROC_DOFLUSH: no waiting
    assert p.proc is not None
    p.proc.wait(timeout=10)  # it read its one line and exited
    p.send("waits while the processor may not restart yet")
    assert p.backlog and counts[Event.PROCESSOR_LINES_LOST] == 0
    now[0] += RESTART_SECONDS
    p.send("after the restart")  # the new processor reads the waiting line, then exits
    wait_for(out, "waits while")
    p.close()
    assert out.read_text().splitlines() == [
        "la 1795312871:52 h1 la",
        "waits while the processor may not restart yet",
    ]
    assert counts[Event.PROCESSOR_LINES] == 3


def test_a_processor_that_does_not_read_never_blocks_rrdd(tmp_path: Path) -> None:
    script = tmp_path / "sleeper.sh"
    script.write_text("#!/bin/sh\nexec sleep 600\n")
    script.chmod(0o755)
    counts = Counts()
    p = Processor(str(script), counts, flush_each=True)
    started = time.monotonic()
    for i in range(120000):  # about 6 MB: more than the pipe and the backlog hold
        p.send(f"la 1795312871:{i} host{i:05d}.example.com la")
    assert time.monotonic() - started < 10
    assert counts[Event.PROCESSOR_LINES_LOST] > 0
    assert len(p.backlog) <= MAX_BACKLOG
    assert p.proc is not None
    p.proc.kill()
    p.close()


def test_buffered_lines_are_delivered_at_close(tmp_path: Path) -> None:
    out = tmp_path / "all"
    script = tmp_path / "cat.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\n")
    script.chmod(0o755)
    p = Processor(str(script), Counts(), bufsize=65536)
    for i in range(100):
        p.send(f"line {i}")
    p.close()
    assert out.read_text().splitlines() == [f"line {i}" for i in range(100)]


def test_a_processor_that_cannot_start_loses_lines_but_nothing_else(tmp_path: Path) -> None:
    counts = Counts()
    p = Processor(str(tmp_path / "missing"), counts)
    p.send("x")
    p.close()
    assert counts[Event.PROCESSOR_LINES_LOST] == 1


def test_each_update_is_one_line_naming_its_file_by_params_or_name(tmp_path: Path) -> None:
    # xymond_rrd's line: template, update, host, then the parts of the file name.
    out = tmp_path / "all"
    script = tmp_path / "cat.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\n")
    script.chmod(0o755)
    p = Processor(str(script), Counts())
    disk = Schema.of("DS:pct:GAUGE:600:0:100", "DS:used:GAUGE:600:0:U")
    p.accept("h1", Update("la.rrd", Schema.of("DS:la:GAUGE:600:U:U"), ("52",)), 1795312871)
    p.accept("h1", Update("disk,root.rrd", disk, ("5", "10"), params=("disk", "/root")), 1795312871)
    p.close()
    assert out.read_text().splitlines() == [
        "la 1795312871:52 h1 la",
        "pct:used 1795312871:5:10 h1 disk /root",
    ]


def test_a_running_rrdd_starts_its_processor_again_after_it_dies(tmp_path: Path, log: Log) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    out = tmp_path / "lines"
    script = tmp_path / "copy.sh"
    script.write_text(f"#!/bin/sh\nexec cat >> {out}\n")
    script.chmod(0o755)
    # rrdd's clock runs 20 times faster, so that the RESTART_SECONDS a processor must
    # have run before it is started again have passed by the time the test kills it.
    fast = {"LD_PRELOAD": libfaketime(), "FAKETIME": "+0 x20", "RRD_EXTPROC_DOFLUSH": "1"}
    proc = start(rrddir, f"--processor={script}", "--create-workers=0", stderr=log.file, **fast)
    send(proc, cpu(1, "h1", T0, "1.00"))
    wait_for(out, f"la {T0}:100 h1 la")
    (processor,) = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    os.kill(int(processor), signal.SIGKILL)
    state = Path(f"/proc/{processor}/stat")
    wait_until(lambda: state.read_text().rsplit(")", 1)[1].split()[0] == "Z")  # not reaped
    sent: list[int] = []

    def restarted() -> bool:
        sent.append(T0 + 300 * (len(sent) + 1))
        send(proc, cpu(len(sent) + 1, "h1", sent[-1], "2.00"))
        return f"la {T0 + 300}:200 h1 la" in out.read_text()

    wait_until(restarted)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    lines = [line for line in out.read_text().splitlines() if line.endswith(" h1 la")]
    assert lines == [f"la {T0}:100 h1 la"] + [f"la {ts}:200 h1 la" for ts in sent]
    assert len(log.said(f"External processor '{script}' started")) == 2
    assert f"External processor '{script}' exited" in log.text()
