"""Hostile input end to end: strings that would crash the rrdtool binding never reach it.

A DS definition with a byte that is not UTF-8 killed rrdd (SIGSEGV in the binding, first
in a create worker, then in rrdd itself). It comes in a trends data message, a devmon
block or the output of an extra script; each is refused with a log line, and the good
messages around it are all written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.test_cli import RRDD, T0, clean_env, cpu, lastupdate, status
from tests.test_rrdcached import Daemon


def data(seq: int, host: str, test: str, ts: int, body: bytes) -> bytes:
    header = f"@@data#{seq}/{host}|{ts}.5|192.0.2.10||{host}|{test}|linux|p\n".encode()
    return header + f"data {host}.{test}\n".encode() + body + b"\n@@\n"


def devmon(seq: int, host: str, ts: int, ds: bytes, row: bytes) -> bytes:
    header = (
        f"@@status#{seq}/{host}|{ts}.5|192.0.2.10||{host}|if_load|{ts + 1800}|green||green|"
        f"0|0||0||{ts}|linux|p|0|\nstatus {host}.if_load green ok\n"
    ).encode()
    return header + b"<!--DEVMON RRD: if_load 0 0\n" + ds + b"\n" + row + b"\n-->\n@@\n"


SCRIPT = """#!/bin/sh
# The weather test's answer, and a DS definition with the byte 0xff for the storm test.
case "$2" in
    weather) printf 'DS:temp:GAUGE:600:-50:60\\nweather.rrd\\n21\\n' ;;
    storm) printf 'DS:temp:GAUGE\\377:600:-50:60\\nstorm.rrd\\n12\\n' ;;
esac
"""

STREAM = b"".join(
    [
        cpu(1, "h1", T0, "0.50"),
        data(2, "h1", "trends", T0, b"[good.rrd]\nDS:a:GAUGE:600:U:U 1"),
        devmon(3, "r1", T0, b"DS:ds0:COUNTER:600:0:U", b"Gi0_1 100"),
        status(4, "h1", "weather", T0, "status h1.weather green fine"),
        # The hostile ones: a DS definition, a value and a file name with the byte 0xff.
        data(5, "h1", "trends", T0 + 1, b"[t.rrd]\nDS:temp:GAUGE\xff:600:-50:60 12"),
        data(6, "h1", "trends", T0 + 2, b"[v.rrd]\nDS:v:GAUGE:600:U:U 1\xff"),
        data(7, "h1", "trends", T0 + 3, b"[n\xff.rrd]\nDS:v:GAUGE:600:U:U 1"),
        devmon(8, "r1", T0 + 1, b"DS:ds1:COUNTER\xff:600:0:U", b"Gi0_2 200"),
        status(9, "h1", "storm", T0 + 1, "status h1.storm red wind"),
        # Good ones after them, the files above among them.
        data(10, "h1", "trends", T0 + 300, b"[good.rrd]\nDS:a:GAUGE:600:U:U 2"),
        devmon(11, "r1", T0 + 300, b"DS:ds0:COUNTER:600:0:U", b"Gi0_1 400"),
        cpu(12, "h2", T0 + 300, "1.25"),
    ]
)


@pytest.mark.parametrize(
    "mode",
    [[], ["--create-workers=0"], ["--workers=2"], ["--rrdcached"]],
    ids=["create-workers", "in-process", "two-workers", "rrdcached"],
)
def test_strings_that_crash_the_binding_are_refused_and_the_rest_is_kept(
    tmp_path: Path, mode: list[str]
) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    script = tmp_path / "extra.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    cached = Daemon(tmp_path, rrddir)
    if mode == ["--rrdcached"]:
        cached.start()
        mode = [f"--rrdcached={cached.address}"]
    try:
        p = subprocess.run(
            [
                RRDD,
                f"--rrddir={rrddir}",
                f"--extra-script={script}",
                "--extra-tests=weather,storm",
                *mode,
            ],
            input=STREAM,
            capture_output=True,
            env=clean_env(),
            timeout=60,
        )
    finally:
        cached.stop()  # it writes what it holds into the files
    log = p.stderr.decode(errors="replace")
    assert p.returncode == 0, log
    assert sorted(p.name for p in rrddir.iterdir()) == ["h1", "h2", "r1"]
    assert sorted(p.name for p in (rrddir / "h1").iterdir()) == [
        "good.rrd",
        "la.rrd",
        "procs.rrd",
        "users.rrd",
        "v.rrd",  # made, as the value comes after the file in the writer's checks
        "weather.rrd",
    ]
    assert lastupdate(rrddir / "h1/v.rrd")[1] == {"v": None}
    assert lastupdate(rrddir / "h1/la.rrd") == (T0, {"la": 50.0})
    assert lastupdate(rrddir / "h1/good.rrd") == (T0 + 300, {"a": 2.0})
    assert lastupdate(rrddir / "h1/weather.rrd") == (T0, {"temp": 21.0})
    assert lastupdate(rrddir / "h2/la.rrd") == (T0 + 300, {"la": 125.0})
    assert sorted(p.name for p in (rrddir / "r1").iterdir()) == ["if_load.Gi0_1.rrd"]
    assert lastupdate(rrddir / "r1/if_load.Gi0_1.rrd")[0] == T0 + 300
    for where in ("h1/t.rrd", "h1/v.rrd", "h1/storm.rrd", "r1/if_load.Gi0_2.rrd"):
        assert f"{where}: refused: " in log
    assert "the create argument 'DS:temp:GAUGE\\udcff:600:-50:60' holds bytes that" in log
