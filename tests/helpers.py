"""Small helpers several test modules share."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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
    for host in sorted(os.listdir(rrddir)):
        for name in sorted(os.listdir(rrddir / host)):
            path = str(rrddir / host / name)
            # cur_row left out: librrd starts each RRA at a random row
            info = {k: v for k, v in rrdtool.info(path).items() if not k.endswith(".cur_row")}
            info.pop("filename")
            rows = rrdtool.fetch(path, "AVERAGE", "-s", str(T0 - 600), "-e", str(T0 + 9000))[2]
            out[f"{host}/{name}"] = (info, rows)
    return out
