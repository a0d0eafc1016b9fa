"""The configuration watcher, on real files: a reload once a change is complete."""

from __future__ import annotations

import time
from pathlib import Path

from rrdd.watch import QUIET_SECONDS, ConfigWatcher
from tests.helpers import wait_until


def test_a_file_written_in_place_is_read_once_written(tmp_path: Path) -> None:
    config = tmp_path / "rrdd.toml"
    config.write_text('test2rrd = "cpu=la"\n')
    seen: list[str] = []
    watcher = ConfigWatcher([config], lambda: seen.append(config.read_text()))
    watcher.start()
    try:
        time.sleep(0.2)
        with config.open("w") as f:  # truncated: empty until the write below
            f.flush()
            time.sleep(QUIET_SECONDS / 3)
            f.write('test2rrd = "cpu=la,myapp=ncv"\n')
        wait_until(lambda: seen, seconds=10)
        time.sleep(QUIET_SECONDS * 2)
    finally:
        watcher.stop()
    assert seen == ['test2rrd = "cpu=la,myapp=ncv"\n']


def test_files_beside_the_watched_ones_are_ignored(tmp_path: Path) -> None:
    config = tmp_path / "rrdd.toml"
    config.write_text("")
    seen: list[int] = []
    watcher = ConfigWatcher([config], lambda: seen.append(1))
    watcher.start()
    try:
        time.sleep(0.2)
        (tmp_path / "other.txt").write_text("x")
        time.sleep(QUIET_SECONDS * 2)
        assert seen == []
        config.write_text("debug = true\n")
        wait_until(lambda: seen, seconds=10)
    finally:
        watcher.stop()
