"""Small helpers several test modules share."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

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


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of an 8-bit RGB or RGBA PNG, as RGB bytes per row."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + size
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and not interlace, "only 8-bit RGB(A) PNGs"
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):  # undo the row's filter (PNG spec, section 9)
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + guess) & 0xFF
        previous = line
        rgb = bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        rows.append(rgb)
    return width, height, rows


def count_colour(data: bytes, rgb: str) -> int:
    """How many pixels of the PNG are exactly the colour RRGGBB."""
    want = bytes.fromhex(rgb)
    _, _, rows = png_pixels(data)
    return sum(1 for row in rows for x in range(0, len(row), 3) if row[x : x + 3] == want)


@contextlib.contextmanager
def tmpfs(where: Path, size: str, inodes: int = 0) -> Iterator[Path]:
    """A real tmpfs of `size` (and of that many `inodes`, if given) mounted at `where`
    while in the block: a small disk to fill or to make read-only. It needs root with
    mount rights (CI has them); without them the test fails, it does not skip."""
    where.mkdir()
    options = f"size={size}" + (f",nr_inodes={inodes}" if inodes else "")
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)]
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


class Log:
    """rrdd's standard error in a file, read while rrdd runs, so that a test waits for a
    line rather than for time."""

    def __init__(self, path: Path, file: IO[bytes]):
        self.path, self.file = path, file

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def said(self, words: str) -> list[str]:
        """The pid of each process that logged `words`, once per line."""
        return re.findall(rf"rrdd\[(\d+)\] \w+ [^\n]*{re.escape(words)}", self.text())

    def wait_for(self, words: str, times: int = 1) -> None:
        wait_until(lambda: len(self.said(words)) >= times)


# --- what the other rrdd does between two steps of this one ---------------------------------

_hooks: list[Callable[[str, tuple[object, ...]], None]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    for hook in _hooks:
        hook(event, args)


sys.addaudithook(_audit)  # for good: an audit hook cannot be taken away, so it dispatches


@contextlib.contextmanager
def meanwhile(
    event: str, name: str, action: Callable[[], object], times: int = 1
) -> Iterator[list[int]]:
    """Run `action` just before this process does `event` (an audit event: "os.rmdir",
    "os.remove", "os.rename", "os.listdir") on a path whose last part is `name`, the
    first `times` times: the other rrdd acting between two steps of this one, every
    time at the same point. Yields the count of times it ran, for the test to check."""
    ran = [0]
    busy = [False]

    def hook(seen: str, args: tuple[object, ...]) -> None:
        if seen != event or busy[0] or ran[0] >= times or not args:
            return
        path = args[0]
        if not isinstance(path, (str, os.PathLike)) or os.path.basename(os.fspath(path)) != name:
            return
        busy[0] = True  # what the action does raises events too
        try:
            action()
        finally:
            busy[0] = False
        ran[0] += 1

    _hooks.append(hook)
    try:
        yield ran
    finally:
        _hooks.remove(hook)
