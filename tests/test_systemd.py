"""rrdd.systemd: sd_notify datagrams to a real socket, and the watchdog interval; and what
a running rrdd tells the socket in $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rrdd.systemd import notify, watchdog_interval
from tests.helpers import T0
from tests.test_cli import ONE_OR_TWO, cpu, send, start

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract sockets are Linux's"
)


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket bound to a file, named in $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert notify("READY=1") is False


def test_one_datagram(receiver: socket.socket) -> None:
    assert notify("READY=1", "STATUS=reading the status channel") is True
    assert receiver.recv(4096) == b"READY=1\nSTATUS=reading the status channel"
    assert notify("STATUS=flushing 1200/5000 files") is True
    assert receiver.recv(4096) == b"STATUS=flushing 1200/5000 files"
    assert notify("STOPPING=1") is True
    assert receiver.recv(4096) == b"STOPPING=1"


def test_a_newline_cannot_add_a_field(receiver: socket.socket) -> None:
    assert notify("STATUS=host a\nREADY=1") is True
    assert receiver.recv(4096) == b"STATUS=host a READY=1"


def test_undecodable_text(receiver: socket.socket) -> None:
    assert notify("STATUS=h\udcffst ok") is True  # a surrogate from surrogateescape input
    assert receiver.recv(4096) == b"STATUS=h?st ok"


def test_nothing_to_send(receiver: socket.socket) -> None:
    assert notify() is False


@linux_only
def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"rrdd-test-{os.getpid()}-{secrets.token_hex(4)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("WATCHDOG=1") is True
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_nobody_listening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert notify("READY=1") is False
    (tmp_path / "file").write_text("not a socket")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "file"))
    assert notify("READY=1") is False


@pytest.mark.parametrize("address", ["relative/path", "@", "vsock:2:1234", "/" + "x" * 200])
def test_addresses_not_used(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert notify("READY=1") is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        (None, None, None),
        ("30000000", None, 15.0),
        ("30000000", "self", 15.0),
        ("30000000", "other", None),  # meant for the main process, e.g. xymond_channel
        ("1000", None, 0.0005),
        ("0", None, None),
        ("-5", None, None),
        ("soon", None, None),
        ("", None, None),
        ("30000000", "", None),
        ("30000000", "pid", None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    for name, val in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if val is None:
            monkeypatch.delenv(name, raising=False)
        else:
            val = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(val, val)
            monkeypatch.setenv(name, val)
    assert watchdog_interval() == expected


@ONE_OR_TWO
def test_a_running_rrdd_tells_systemd_it_is_ready_alive_and_stopping(
    tmp_path: Path, shards: list[str]
) -> None:
    rrddir = tmp_path / "rrd"
    rrddir.mkdir()
    heard: list[tuple[float, list[str]]] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(20)

        def hear() -> list[str]:
            fields = sock.recv(4096).decode().split("\n")
            heard.append((time.monotonic(), fields))
            return fields

        # WatchdogSec=600ms: systemd kills a unit silent for that long.
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "600000"}
        proc = start(rrddir, *shards, stderr=subprocess.DEVNULL, **env)
        assert "READY=1" in hear()  # first
        send(proc, cpu(1, "h1", T0, "1.00"))
        while sum("WATCHDOG=1" in fields for _, fields in heard) < 3:
            hear()
        assert proc.stdin is not None
        proc.stdin.close()
        while "STOPPING=1" not in hear():
            pass
        assert proc.wait(timeout=20) == 0
    assert sum("READY=1" in fields for _, fields in heard) == 1
    pings = [when for when, fields in heard if "WATCHDOG=1" in fields]
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 0.6
