"""extras/: the systemd unit passes systemd-analyze verify, and both files run real rrdd options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from rrdd.cli import build_parser

EXTRAS = Path(__file__).resolve().parent.parent / "extras"
UNIT = EXTRAS / "rrdd@.service"
TASKS = EXTRAS / "tasks.cfg"
ANALYZE = shutil.which("systemd-analyze")
SYSTEM_UNITS = next(
    (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()),
    None,
)


def unit_values(key: str) -> list[str]:
    return [
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def rrdd_args(words: list[str]) -> list[str]:
    """The words after the rrdd program in a xymond_channel command line."""
    at = next(i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] == "rrdd")
    return words[at + 1 :]


@pytest.mark.skipif(ANALYZE is None or SYSTEM_UNITS is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify wants every ExecStart= program to exist, and Xymon is not installed here, so
    # the unit is checked inside a root of its own: systemd's units, stand-in programs.
    assert ANALYZE is not None and SYSTEM_UNITS is not None
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
    for command in unit_values("ExecStart"):
        program = root / command.lstrip("-@:+!").split()[0].lstrip("/")
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    done = subprocess.run(
        [ANALYZE, "verify", "--man=no", f"--root={root}", "rrdd@status.service"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if "rrdd@" in line]
    assert done.returncode == 0, done.stderr
    assert complaints == []  # unknown keys and bad values are only warnings


def test_unit_runs_rrdd_with_real_options() -> None:
    (command,) = unit_values("ExecStart")
    words = command.split()
    assert "--channel=%i" in words
    build_parser().parse_args(rrdd_args(words))
    assert unit_values("Type") == ["exec"]
    assert unit_values("NotifyAccess") == ["all"]
    assert unit_values("KillMode") == []  # "mixed" would kill rrdd in the middle of a flush
    (rw,) = unit_values("ReadWritePaths")
    rrddir = next(w.split("=", 1)[1] for w in words if w.startswith("--rrddir="))
    assert rrddir in rw.split()


def test_tasks_cfg_sections() -> None:
    sections: dict[str, list[str]] = {}
    current = None
    for line in TASKS.read_text().splitlines():
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
        elif line.strip() and not line.startswith("#"):
            assert current is not None, line
            current.append(line.strip())
    assert set(sections) == {"rrdstatus", "rrddata"}
    for key, channel in (("rrdstatus", "status"), ("rrddata", "data")):
        (cmd,) = sections[key]
        words = shlex.split(cmd)
        assert words[:3] == ["CMD", "xymond_channel", f"--channel={channel}"]
        build_parser().parse_args(rrdd_args(words))


def test_tasks_cfg_commented_commands_parse() -> None:
    commands = [
        line.lstrip("#").strip()
        for line in TASKS.read_text().splitlines()
        if re.match(r"#\s*CMD ", line)
    ]
    assert commands
    for cmd in commands:
        build_parser().parse_args(rrdd_args(shlex.split(cmd)))


@pytest.mark.parametrize("sample", ["nats-cluster.conf", "nats-standby.conf"])
def test_the_nats_samples_are_configurations_nats_server_takes(sample: str) -> None:
    done = subprocess.run(
        ["nats-server", "-t", "-c", str(EXTRAS / sample)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
