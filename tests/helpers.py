"""Small helpers several test modules share."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import rrdtool

T0 = 1795312871  # message timestamps; rrdd starts files before the first one


def wait_until(condition: Callable[[], object], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def rrd_contents(rrddir: Path) -> dict[str, object]:
    """Every RRD file's definition, state and recent rows, for comparing two runs."""
    out = {}
    for host in sorted(h for h in os.listdir(rrddir) if not h.startswith(".")):  # .renamed
        for name in sorted(os.listdir(rrddir / host)):
            path = str(rrddir / host / name)
            # cur_row left out: librrd starts each RRA at a random row
            info = {k: v for k, v in rrdtool.info(path).items() if not k.endswith(".cur_row")}
            info.pop("filename")
            rows = rrdtool.fetch(path, "AVERAGE", "-s", str(T0 - 600), "-e", str(T0 + 9000))[2]
            out[f"{host}/{name}"] = (info, rows)
    return out


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` mounted at `where` while in the block: a small disk to fill
    or to make read-only. It needs root with mount rights (CI has them); without them
    the test fails, it does not skip."""
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    done = subprocess.run(mount, capture_output=True, text=True)
    assert done.returncode == 0, f"cannot mount a tmpfs (root with mount rights needed): {done}"
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount(where: Path, mode: str) -> None:
    """mode: "ro" or "rw"."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def fill(where: Path) -> Path:
    """Fill the file system of `where` to the last page; returns the file that does it."""
    filler = where / "filler"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 16, 1 << 12, 1 << 9):
            try:
                while True:
                    out.write(bytes(chunk))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    return filler
