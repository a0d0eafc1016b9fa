"""Marks in the RRD directory that tell the other rrdd what this one did to a host.

The stock Xymon set-up runs two rrdd on one RRD directory (the status and the data
channel), and both get every drophost, renamehost and renametest in their own stream:
either may act first, and the other may still read messages sent before the control
message. The one that acts leaves a mark, which the other consults when a file it
expects is missing (never per update):

    .renamed/<old>                 the new name of a renamed host (followed in a chain)
    .renamed-files/<host>/<old>    the new name of a file renamed by a renametest
    .dropped/<host>                a dropped host: until its own drophost, the other
                                   rrdd lets go of the host's values

A mark is followed for MEMORY seconds, and only by an rrdd that has not had the
control message itself: after its own renamehost, a message for the old name is for a
new host of that name. Marks older than MEMORY are swept when a new one is written.
Host names starting with "." are refused, so no host owns these names.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

from rrdd.schema import unsafe_host, unsafe_name

log = logging.getLogger("rrdd.writer")

RENAMED = ".renamed"
RENAMED_FILES = ".renamed-files"
DROPPED = ".dropped"
MEMORY = 3600.0  # seconds a mark is followed


class Marks:
    def __init__(self, rrddir: str):
        self.rrddir = rrddir
        # mark -> its time when this rrdd had the control message: that mark is done with
        self._done: dict[str, float] = {}

    # --- renamehost ------------------------------------------------------------------

    def renamed(self, old: str, new: str) -> None:
        """Leave `new` in .renamed/<old>, replacing any mark there at once."""
        self._write(os.path.join(self.rrddir, RENAMED), old, new, f"renamehost {old} -> {new}")

    def rename_done(self, old: str) -> None:
        """This rrdd has had its renamehost of `old` (moved it, or found it moved)."""
        self._had(os.path.join(self.rrddir, RENAMED, old))

    def unrenamed(self, host: str) -> None:
        """A name in use again (a rename back) leads nowhere else."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.rrddir, RENAMED, host))

    def new_name(self, host: str) -> str | None:
        """The host's new name, when its directory is gone because an rrdd renamed it
        lately (following renames in a row); else None."""
        name, seen = host, {host}
        while not os.path.isdir(os.path.join(self.rrddir, name)):
            new = self._follow(os.path.join(self.rrddir, RENAMED, name))
            if new is None:
                break
            if unsafe_host(new) or new in seen:
                return None  # not a mark rrdd wrote, or renames in a circle
            seen.add(new)
            name = new
        return None if name == host else name

    # --- renametest ------------------------------------------------------------------

    def file_renamed(self, host: str, old: str, new: str) -> None:
        marks = os.path.join(self.rrddir, RENAMED_FILES, host)
        self._write(marks, old, new, f"renametest {host}")

    def file_rename_done(self, host: str, old: str) -> None:
        self._had(os.path.join(self.rrddir, RENAMED_FILES, host, old))

    def file_unrenamed(self, host: str, name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.rrddir, RENAMED_FILES, host, name))

    def new_file_name(self, host: str, name: str) -> str | None:
        """The new name of a host's file that is missing because an rrdd renamed it
        lately (and that new file exists), or None."""
        new = self._follow(os.path.join(self.rrddir, RENAMED_FILES, host, name))
        if new is None or unsafe_name(new) or new == name:
            return None  # none, or not a mark rrdd wrote
        return new if os.path.lexists(os.path.join(self.rrddir, host, new)) else None

    # --- drophost --------------------------------------------------------------------

    def dropped(self, host: str, deleting: bool) -> None:
        """drophost: the rrdd that deletes the directory (`deleting`) leaves
        .dropped/<host> first. Either way this rrdd has had its drophost: the mark there
        now is done with. A recent mark stays as it is: the other rrdd may be deleting at
        the same time, and a newer mark would tell it that its own drophost is still to
        come."""
        mark = os.path.join(self.rrddir, DROPPED, host)
        if deleting and not self._recent(mark):
            self._write(os.path.join(self.rrddir, DROPPED), host, "", f"drophost {host}")
        self._had(mark)

    def dropped_by_other(self, host: str) -> bool:
        """Whether the host's directory is gone because the other rrdd's drophost removed
        it lately, and this rrdd's own drophost is still to come."""
        if os.path.isdir(os.path.join(self.rrddir, host)):
            return False
        return self._follow(os.path.join(self.rrddir, DROPPED, host)) is not None

    def dropped_lately(self, host: str) -> bool:
        """Whether either rrdd began a drophost of the host lately (its mark is recent)."""
        return self._recent(os.path.join(self.rrddir, DROPPED, host))

    # --- the files -------------------------------------------------------------------

    @staticmethod
    def _recent(mark: str) -> bool:
        try:
            return time.time() - os.stat(mark).st_mtime < MEMORY
        except OSError:
            return False

    def _had(self, mark: str) -> None:
        """This rrdd has had the control message of `mark` (which it may have written)."""
        if len(self._done) > 10000:
            self._done.clear()
        try:
            self._done[mark] = os.stat(mark).st_mtime
        except OSError:
            self._done[mark] = time.time()

    def _follow(self, mark: str) -> str | None:
        """What a mark says, while it is recent and newer than this rrdd's own control
        message of that name; else None."""
        try:
            when = os.stat(mark).st_mtime
            if time.time() - when > MEMORY or when <= self._done.get(mark, 0.0):
                return None
            with open(mark, encoding="utf-8") as text:
                return text.read().strip()
        except (OSError, UnicodeDecodeError):
            return None

    @staticmethod
    def _write(marks: str, name: str, text: str, what: str) -> None:
        """Put `text` in marks/name whole (a temporary file renamed over it), and sweep
        the old marks of that directory."""
        try:
            os.makedirs(marks, exist_ok=True)
            for entry in os.scandir(marks):
                with contextlib.suppress(FileNotFoundError):  # the other rrdd's sweep
                    if time.time() - entry.stat(follow_symlinks=False).st_mtime > MEMORY:
                        os.unlink(entry.path)
            temp = os.path.join(marks, f".{os.getpid()}")
            with open(temp, "w", encoding="utf-8") as out:
                out.write(f"{text}\n" if text else "")
            os.replace(temp, os.path.join(marks, name))
        except OSError as e:
            log.warning("%s: cannot leave a mark in %s: %s", what, marks, e)
