"""--extra-script, --extra-persistent and --processor, run end to end."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rrdd.external import MAX_OUTPUT, parse_output
from tests.helpers import rrd_contents
from tests.test_cli import RRDD, T0, clean_env, cpu, lastupdate, run, status

EXTRA = Path(__file__).parent / "data/extra"
WEATHER = "Weather in Copenhagen is FAIR\n\nTemperature: {t} degrees Celsius\nWind: 4 m/s\n"
WEATHER += "Humidity: 72 %\nRainfall: {r} mm since 6:00 AM"


def weather(seq: int, ts: int, t: int, r: int, host: str = "h1") -> bytes:
    return status(
        seq, host, "weather", ts, f"status {host}.weather green " + WEATHER.format(t=t, r=r)
    )


@pytest.fixture
def rrddir(tmp_path: Path) -> Path:
    d = tmp_path / "rrd"
    d.mkdir()
    (tmp_path / "tmp").mkdir()
    return d


def test_output_protocol() -> None:
    out = (
        "DS:temperature:GAUGE:600:-30:50\nDS:wind:GAUGE:600:0:U\nweather.rrd\n21:4\n"
        "weather two.rrd\n22:5\n\nds:x:GAUGE:600:U:U\nother.rrd\n7\nbad.rrd\n1:2\nlast.rrd\n"
    )
    updates, problems = parse_output(out)
    assert [(u.rrd, u.schema.names, u.values) for u in updates] == [
        ("weather.rrd", ("temperature", "wind"), ("21", "4")),
        ("weather_two.rrd", ("temperature", "wind"), ("22", "5")),
        ("other.rrd", ("x",), ("7",)),
    ]
    assert problems == ["bad.rrd: 2 values for 1 DS: '1:2'", "last.rrd: no values line after it"]


def test_the_manuals_weather_script_runs_unchanged(rrddir: Path) -> None:
    stream = weather(1, T0, 21, 5) + weather(2, T0 + 300, 23, 8) + cpu(3, "h1", T0, "0.50")
    p = run(
        rrddir,
        stream,
        f"--extra-script={EXTRA / 'weather.sh'}",
        "--extra-tests=weather",
        XYMONTMP=str(rrddir.parent / "tmp"),
    )
    assert p.returncode == 0, p.stderr
    assert lastupdate(rrddir / "h1/weather.rrd") == (
        T0 + 300,
        {"temperature": 23.0, "wind": 4.0, "humidity": 72.0, "rainfall": 8.0},
    )
    assert lastupdate(rrddir / "h1/la.rrd")[0] == T0
    assert os.listdir(rrddir.parent / "tmp") == []  # the message files are removed


def test_a_hanging_script_is_killed_and_other_messages_go_on(rrddir: Path) -> None:
    stream = b"".join(
        [status(1, "h1", "stuck", T0, "status h1.stuck green x"), cpu(2, "h1", T0, "1.00")]
        + [cpu(3 + i, f"h{i}", T0 + i, "2.00") for i in range(5)]
    )
    started = time.monotonic()
    p = run(
        rrddir,
        stream,
        f"--extra-script={EXTRA / 'sleeper.sh'}",
        "--extra-tests=stuck",
        "--extra-timeout=1",
    )
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - started < 20
    assert "killed after its time limit of 1 s" in p.stderr
    assert lastupdate(rrddir / "h4/la.rrd") == (T0 + 4, {"la": 200.0})


def test_script_output_cannot_leave_the_host_directory(rrddir: Path) -> None:
    stream = status(1, "h1", "esc", T0, "status h1.esc green x")
    p = run(rrddir, stream, f"--extra-script={EXTRA / 'escape.sh'}", "--extra-tests=esc")
    assert p.returncode == 0
    assert sorted(os.listdir(rrddir.parent)) == ["rrd", "tmp"]
    assert os.listdir(rrddir / "h1") == ["inside.rrd"]
    assert "refused" in p.stderr


@pytest.mark.parametrize("shards", [[], ["--workers=3"]], ids=["one", "three"])
def test_persistent_mode_gives_the_same_files(
    rrddir: Path, tmp_path: Path, shards: list[str]
) -> None:
    # With three workers, h0 and h2 share one, and h1 has another: each runs the script.
    stream = b"".join(
        weather(i * 3 + j + 1, T0 + 300 * i + j, 10 + i + j, 2 * i, host=f"h{j}")
        for i in range(6)
        for j in range(3)
    )
    args = [f"--extra-script={EXTRA / 'weather.py'}", "--extra-tests=weather"]
    assert run(rrddir, stream, *args).returncode == 0
    other = tmp_path / "rrd2"
    other.mkdir()
    p = run(other, stream, *args, "--extra-persistent", *shards)
    assert p.returncode == 0, p.stderr
    assert rrd_contents(rrddir) == rrd_contents(other)
    assert len(rrd_contents(other)) == 3


def test_processor_gets_xymons_lines(rrddir: Path, tmp_path: Path) -> None:
    out = tmp_path / "processor.out"
    script = tmp_path / "proc.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}\n")
    script.chmod(0o755)
    disk = "status h1.disk green\n/dev/sda2 1000 500 500 50% /var/log"
    stream = cpu(1, "h1", T0, "0.52") + status(2, "h1", "disk", T0 + 1, disk)
    p = run(rrddir, stream, f"--processor={script}", "--no-rrd")
    assert p.returncode == 0, p.stderr
    assert out.read_text().splitlines() == [
        f"la {T0}:52 h1 la",
        f"la {T0}:99 h1 procs",
        f"la {T0}:2 h1 users",
        f"pct:used {T0 + 1}:50:500 h1 disk ,var,log",
    ]


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def run_capped(rrddir: Path, stream: bytes, *args: str) -> tuple[str, float]:
    """rrdd on a stream with 1 GiB of address space (it takes about 300 MB), so that a
    runaway script cannot take the machine's memory: its log, and how long it took."""
    started = time.monotonic()
    p = subprocess.run(
        [RRDD, f"--rrddir={rrddir}", *args],
        input=stream,
        capture_output=True,
        env=clean_env(),
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
    )
    log = p.stderr.decode(errors="replace")
    assert p.returncode == 0, log
    return log, time.monotonic() - started


# An answer, and a process of its own session that keeps the script's output open.
ESCAPER = """setsid sleep 60 2>/dev/null &
echo $! >> {pids}
if [ -n "$RRDD_EXTRA_PERSISTENT" ]; then
    while read -r host test length; do
        head -c "$length" > /dev/null
        read -r _
        printf 'DS:x:GAUGE:600:U:U\\n%s.rrd\\n1\\n.\\n' "$test"
    done
else
    printf 'DS:x:GAUGE:600:U:U\\n%s.rrd\\n1\\n' "$2"
fi
"""


@pytest.mark.parametrize("persistent", [[], ["--extra-persistent"]], ids=["once", "persistent"])
def test_the_time_limit_holds_when_the_script_leaves_its_output_open(
    rrddir: Path, tmp_path: Path, persistent: list[str]
) -> None:
    pids = tmp_path / "pids"
    escaper = script(tmp_path, "escaper.sh", ESCAPER.format(pids=pids))
    stream = b"".join(status(i, "h1", "esc", T0 + 300 * i, "status h1.esc green x") for i in (0, 1))
    try:
        log, took = run_capped(
            rrddir, stream, f"--extra-script={escaper}", "--extra-tests=esc",
            "--extra-timeout=1", *persistent,
        )  # fmt: skip
    finally:
        for pid in pids.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    assert took < 20  # it waited for each sleep 60 to end
    assert lastupdate(rrddir / "h1/esc.rrd") == (T0 + 300, {"x": 1.0})  # both answers kept
    if not persistent:
        assert log.count("its output was still open at its time limit of 1 s") == 1


def test_the_time_limit_holds_for_a_persistent_script_that_reads_nothing(
    rrddir: Path, tmp_path: Path
) -> None:
    deaf = script(tmp_path, "deaf.sh", "exec sleep 60\n")
    big = "status h1.esc green " + "x" * 200_000  # more than the pipe to the script holds
    stream = status(1, "h1", "esc", T0, big) + status(2, "h2", "esc", T0, big)
    log, took = run_capped(
        rrddir, stream, f"--extra-script={deaf}", "--extra-tests=esc", "--extra-timeout=1",
        "--extra-persistent",
    )  # fmt: skip
    assert took < 20  # it waited for ever to write the first message
    assert log.count("killed after its time limit of 1 s") == 2  # h1 and h2


@pytest.mark.parametrize("persistent", [[], ["--extra-persistent"]], ids=["once", "persistent"])
@pytest.mark.parametrize(
    "flood", ["exec yes", "head -c 100000000 /dev/zero | tr '\\0' x"], ids=["lines", "one-line"]
)
def test_a_script_that_prints_without_end_is_cut_off(
    rrddir: Path, tmp_path: Path, flood: str, persistent: list[str]
) -> None:
    flooder = script(tmp_path, "flood.sh", flood + "\n")
    stream = b"".join(
        [
            status(1, "h1", "flood", T0, "status h1.flood green x"),
            cpu(2, "h1", T0, "0.50"),
            status(3, "h1", "flood", T0 + 300, "status h1.flood green x"),
        ]
    )
    log, took = run_capped(
        rrddir, stream, f"--extra-script={flooder}", "--extra-tests=flood",
        "--extra-timeout=10", *persistent,
    )  # fmt: skip
    assert took < 9  # cut off at MAX_OUTPUT, not at the time limit
    assert log.count(f"h1/flood: killed: it printed more than {MAX_OUTPUT} bytes") == 1
    assert len(log) < 5000  # one line for both messages, no line per skipped line
    assert sorted(os.listdir(rrddir / "h1")) == ["la.rrd", "procs.rrd", "users.rrd"]
    assert lastupdate(rrddir / "h1/la.rrd") == (T0, {"la": 50.0})


def test_the_problems_of_an_answer_are_counted_past_the_first_few() -> None:
    name = "n" * 5_000_000
    _, problems = parse_output(f"{name}\n1\n" + "bad.rrd\n1\n" * 10_000)
    assert problems == [
        f"{name[:80]}: no DS lines before it",
        "bad.rrd: no DS lines before it",
        "bad.rrd: no DS lines before it",
        "9998 more problems",
    ]


def test_a_repeated_complaint_is_logged_once(rrddir: Path, tmp_path: Path) -> None:
    # Its file name differs in every answer, and so does the reason.
    unnamed = script(tmp_path, "unnamed.sh", 'echo "x$$.rrd"; echo 1\n')
    stream = b"".join(status(i, "h1", "u", T0 + 300 * i, "status h1.u green x") for i in range(3))
    log, _ = run_capped(rrddir, stream, f"--extra-script={unnamed}", "--extra-tests=u")
    assert log.count("h1/u: x") == 1
    assert log.count("no DS lines before it") == 1
