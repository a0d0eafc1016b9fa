"""Reload without restart, when a configuration file changes (watchdog).

The watcher looks at the directories that hold the files rrdd read at start (its TOML
file and config_dir, rrddefinitions.cfg, protocols.cfg, snmpmibs.cfg) and calls
`changed` from a thread of its own once one of those files has been written, created,
moved or deleted and then left alone for QUIET_SECONDS. Editors replace a file by
renaming a new one over it, so directories are watched, not files. The wait matters
to a file written in place: it is empty from the moment it is truncated until it is
written, and an empty TOML file is a valid one that sets nothing, so a reload in
between would put every setting back to its default. The main loop does the reload
itself, between messages.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("rrdd")

QUIET_SECONDS = 0.5


class ConfigWatcher(FileSystemEventHandler):
    def __init__(self, paths: Iterable[Path], changed: Callable[[], None]):
        super().__init__()
        self.changed = changed
        self.files = {os.path.abspath(p) for p in paths if not p.is_dir()}
        self.dirs = {os.path.abspath(p) for p in paths if p.is_dir()}
        self.observer = Observer()
        for directory in sorted({os.path.dirname(f) for f in self.files} | self.dirs):
            if os.path.isdir(directory):
                self.observer.schedule(self, directory, recursive=False)
        self.observer.daemon = True
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(path)
            if path in self.files or os.path.dirname(path) in self.dirs:
                self._when_quiet()
                return

    def _when_quiet(self) -> None:
        """Call `changed` QUIET_SECONDS after the last event, not at each one."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(QUIET_SECONDS, self.changed)
            self._timer.daemon = True
            self._timer.start()
