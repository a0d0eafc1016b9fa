"""--extra-script, --extra-persistent and --processor, run end to end."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rrdd.external import parse_output
from tests.helpers import rrd_contents
from tests.test_cli import T0, cpu, lastupdate, run, status

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
