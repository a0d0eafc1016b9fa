"""The configuration watcher, on real files: a reload once a change is complete."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent

from rrdd.watch import ConfigWatcher
from tests.helpers import wait_until


class Recording(ConfigWatcher):
    """The watcher, telling the test what it has been handed and when it starts to wait
    for quiet, so that the test waits for those instead of for time. Its directories are
    watched once start() returns (watchdog adds the inotify watches in start())."""

    def __init__(self, paths: list[Path], changed: Callable[[], None]):
        super().__init__(paths, changed)
        self.handed: list[str] = []
        self.waits = 0
        self.waiting = threading.Event()

    def on_any_event(self, event: FileSystemEvent) -> None:
        super().on_any_event(event)
        self.handed.append(os.fsdecode(event.src_path))

    def _when_quiet(self) -> None:
        super()._when_quiet()
        self.waits += 1
        self.waiting.set()


def test_a_file_written_in_place_is_read_once_written(tmp_path: Path) -> None:
    config = tmp_path / "rrdd.toml"
    config.write_text('test2rrd = "cpu=la"\n')
    first, second = 'test2rrd = "cpu=la,myapp=ncv"\n', 'test2rrd = "cpu=la,other=ncv"\n'
    seen: list[str] = []
    watcher = Recording([config], lambda: seen.append(config.read_text()))
    watcher.start()
    try:
        with config.open("w") as f:  # truncated: empty until the write below
            assert watcher.waiting.wait(timeout=10)  # the watcher saw the empty file
            f.write(first)
        wait_until(lambda: seen, seconds=10)
        # Another change: a second reading of the first one, or one of the empty file,
        # would come before this one's.
        config.write_text(second)
        wait_until(lambda: len(seen) > 1, seconds=10)
    finally:
        watcher.stop()
    assert seen == [first, second]


def test_files_beside_the_watched_ones_are_ignored(tmp_path: Path) -> None:
    config = tmp_path / "rrdd.toml"
    config.write_text("")
    seen: list[int] = []
    watcher = Recording([config], lambda: seen.append(1))
    watcher.start()
    try:
        (tmp_path / "other.txt").write_text("x")
        wait_until(lambda: str(tmp_path / "other.txt") in watcher.handed, seconds=10)
        assert watcher.waits == 0  # handed the other file's events, it did not start to wait
        config.write_text("debug = true\n")
        wait_until(lambda: seen, seconds=10)
    finally:
        watcher.stop()
    assert watcher.waits > 0
