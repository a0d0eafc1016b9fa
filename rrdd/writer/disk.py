"""A disk that refuses: files whose create or write failed for want of space or rights.

librrd may say nothing of why (an empty error for a create on a full disk) or only that
a file could not be opened, so rrdd names the cause itself from the file system
(statvfs): read-only, no space, no inodes, no permission. The values of such a file are
kept (within max_pending) and the writer tries the file again after 1, 2, 4 ... 60 s.
Each refusal is a problem (problems.py: counted, said once an hour per file); one line
says when files go through again, and at exit what is still held is reported lost.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from rrdd.events import Event
from rrdd.problems import Problem, Problems
from rrdd.writer.making import CUT_SHORT, NO_FILE
from rrdd.writer.table import RrdFile

log = logging.getLogger("rrdd.writer")

RETRY_MAX = 60.0  # longest wait between two tries of the files the disk refused
# librrd's words for the disk's refusals, and for a failed file operation that names none
DISK_ERRORS = (
    "No space left on device",
    "Disk quota exceeded",
    "Read-only file system",
    "Permission denied",
)
LOW_SPACE = 1 << 20  # bytes free under which a failed create or write is the disk's


class Disk:
    def __init__(
        self,
        rrddir: str,
        problems: Problems,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.rrddir, self.problems, self.monotonic = rrddir, problems, monotonic
        self.held: dict[int, RrdFile] = {}  # id -> a file the disk refused, for a retry
        self._retry_at = 0.0
        self._backoff = 1.0

    def cause(self, path: str, reason: str) -> str | None:
        """Why the file system refuses to create or write `path`, when it does; None when
        the failure is not the disk's."""
        where = path if os.path.exists(path) else os.path.dirname(path)
        if not os.path.isdir(where) and where != path:
            where = self.rrddir  # the host's directory is not made yet
        try:
            fs = os.statvfs(where)
        except OSError:
            return None
        if fs.f_flag & os.ST_RDONLY:
            return "read-only file system"
        if fs.f_bavail * fs.f_frsize < LOW_SPACE:
            return "no space left on device"
        if fs.f_files and not fs.f_favail:
            return "no free inodes on the file system"
        if not os.access(where, os.W_OK):
            return "permission denied"
        if reason in (NO_FILE, CUT_SHORT):  # the disk's doing, even if it has room now
            return reason
        return next((e.lower() for e in DISK_ERRORS if e in reason), None)

    def hold(self, f: RrdFile, action: str, cause: str, reason: str) -> None:
        """Keep the file for a retry, and report it."""
        if not self.held:
            self._retry_at = self.monotonic() + self._backoff
        self.held[id(f)] = f
        said = f" (librrd: {reason[:200]})" if reason and cause not in reason.lower() else ""
        why = f"cannot {action} {f.path}: {cause}{said}; its values are kept and it is tried again"
        self.problems.report(Problem(Event.DISK_ERRORS, f.host, f.test, f.name, why))

    def holds(self, f: RrdFile) -> bool:
        return id(f) in self.held

    def due(self) -> list[RrdFile]:
        """The files to try again now (they are no longer held: hold them again if the
        disk still refuses)."""
        if not self.held or self.monotonic() < self._retry_at:
            return []
        files, self.held = list(self.held.values()), {}
        return files

    def tried(self, files: list[RrdFile]) -> None:
        """After a retry of `files`: wait twice as long (up to RETRY_MAX) when none went
        through, else start again at 1 s, and say how many did."""
        back = [f for f in files if id(f) not in self.held]
        if back:
            self._backoff = 1.0
            log.info("%d files the disk refused are written again", len(back))
        else:
            self._backoff = min(RETRY_MAX, self._backoff * 2)
        self._retry_at = self.monotonic() + self._backoff

    def say_lost(self) -> None:
        """At shutdown: what is still held is lost."""
        for f in self.held.values():
            why = f"{f.count} values lost at exit: the disk still refused the file"
            lost = Problem(Event.VALUES_LOST_DISK, f.host, f.test, f.name, why, count=f.count)
            self.problems.report(lost)
