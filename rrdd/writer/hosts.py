"""drophost, renamehost, droptest and renametest: what they do to the files and records.

Two rrdd get each of these messages, in their own streams, and either may act first:
what the other did already is success (a debug line), and marks (marks.py) lead the
other to what this one did. None acts through a symbolic link. Each begins by taking in
the files the creator processes have made, so that no file is in the making under what
changes.

With an rrdcached on another machine (whose files are not here) rrdd cannot delete or
move files: it writes what it holds, has the daemon write the files and forget them,
lets go of its records and says once that the files stay as they are on that machine.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from typing import TYPE_CHECKING

from rrdd.schema import unsafe_host, unsafe_name

if TYPE_CHECKING:
    from rrdd.writer.rrdwriter import RrdWriter

log = logging.getLogger("rrdd.writer")


class HostOps:
    def __init__(self, writer: RrdWriter):
        self.w = writer
        self.rrddir = writer.rrddir
        self._said_remote = False

    def _remote(self, what: str, host: str, names: list[str] | None = None) -> bool:
        """With the files on another machine: write what is held for the host (or these
        files of it) into the files, which stay, have the daemon forget them, and say
        once that the files stay there (True)."""
        w = self.w
        if w.store.files_here:
            return False
        files = [f for f in w.table.of_host(host) if names is None or f.name in names]
        w._write(files)
        paths = [f.path for f in files]
        w.store.flush(paths)  # forgotten unwritten, the daemon's values would never reach them
        w.store.forget(paths)
        for f in files:
            w.table.remove(f)
        if not self._said_remote:
            self._said_remote = True
            log.warning(
                "%s %s: the RRD files are on the rrdcached machine, where rrdd cannot delete "
                "or move them; they stay as they are (this is said once)",
                *(what, host),
            )
        return True

    def drop_host(self, host: str) -> None:
        """Forget the host's values and delete its directory (a link: the link itself)."""
        w = self.w
        w.take_made(wait=True)
        _check_host(host)
        if self._remote("drophost", host):
            return
        self._let_go(host)
        path = os.path.join(self.rrddir, host)
        w.marks.dropped(host, deleting=os.path.isdir(path) and not os.path.islink(path))
        try:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)  # the link itself, never its target
            elif os.path.isdir(path):
                w.store.forget([os.path.join(path, n) for n in os.listdir(path)])
                _remove_tree(path)
        except FileNotFoundError:
            log.debug("drophost %s: %s is gone already", host, path)
        except OSError as e:
            log.error("drophost %s: cannot delete %s: %s", host, path, e)

    def rename_host(self, old: str, new: str) -> None:
        """Write what is held for `old`, move its directory if it is still there, then
        give the values still held for its files to `new`'s files of the same name."""
        w = self.w
        w.take_made(wait=True)
        _check_host(old)
        _check_host(new)
        if old == new:  # from the router of --workers: write what is held, let it go
            paths = w.flush(old)
            w.store.flush(paths)
            w.store.forget(paths)
            self._let_go(old)
            return
        if self._remote("renamehost", old) or self._linked("renamehost", old):
            return
        if self._linked("renamehost", new):
            return
        w.take_answers()  # rows in flight come back under the name they went with
        if os.path.isdir(os.path.join(self.rrddir, old)):
            self._move_host(old, new)
        w.marks.rename_done(old)
        w.marks.unrenamed(new)  # a name in use again (a rename back) leads nowhere else
        w.making.dirs.discard(old)
        held = [
            f
            for f in w.table.of_host(old)
            if (f.pending or not f.made) and not os.path.lexists(f.path)
        ]
        if held:
            log.info(
                "renamehost %s -> %s: %d values held for %s go to %s",
                *(old, new, sum(f.count for f in held), old, new),
            )
        for f in held:
            w.move(f, new, f.name)
        w.flush(new)
        w.table.let_go(old)
        w.table.let_go(new)

    def _move_host(self, old: str, new: str) -> None:
        """Write what is held for `old` and what rrdcached holds for any of its files,
        leave the mark that leads the other rrdd to `new`, and move the directory (or
        its files, into an existing one)."""
        w = self.w
        src, dst = os.path.join(self.rrddir, old), os.path.join(self.rrddir, new)
        w.flush(old)
        try:
            paths = [os.path.join(src, n) for n in os.listdir(src)]
        except FileNotFoundError:
            return  # moved by the other rrdd meanwhile
        paths = [p for p in paths if not os.path.islink(p)]
        # The daemon may hold values the other rrdd sent: written into the files before
        # they move, and forgotten, so that a later update of the old name is refused
        # ("No such file", then followed to the new name) instead of lost in the daemon.
        w.store.flush(paths)
        w.store.forget(paths)
        w.marks.renamed(old, new)
        try:
            if not os.path.lexists(dst):
                os.rename(src, dst)
                return
            for name in sorted(os.listdir(src)):
                if not os.path.lexists(os.path.join(dst, name)):
                    with contextlib.suppress(FileNotFoundError):  # the other rrdd moved it
                        os.rename(os.path.join(src, name), os.path.join(dst, name))
            kept = sorted(os.listdir(src))
            if kept:
                log.warning(
                    "renamehost %s -> %s: %s exists; kept %d files in %s that both have: %s",
                    *(old, new, dst, len(kept), src, ", ".join(kept)),
                )
            else:
                os.rmdir(src)
        except FileNotFoundError:
            log.debug("renamehost %s -> %s: moved by the other rrdd meanwhile", old, new)
        except OSError as e:
            log.error("renamehost %s -> %s: %s", old, new, e)
            if os.path.isdir(src) and not os.path.isdir(dst):
                w.marks.unrenamed(old)

    def host_files(self, host: str) -> list[str]:
        """The files in the host's directory, and those rrdd holds values for: not made
        yet, or renamed by the other rrdd (their values follow, see rename_files)."""
        w = self.w
        _check_host(host)
        w.take_made(wait=True)  # every file in the making is listed
        path = os.path.join(self.rrddir, host)
        if os.path.islink(path):
            return []  # drop_files and rename_files say why
        held = {f.name for f in w.table.of_host(host) if f.pending or not f.made}
        try:
            return sorted(held.union(os.listdir(path)))
        except OSError:
            return sorted(held)

    def drop_files(self, host: str, names: list[str]) -> None:
        """Forget the values of these files of a host and delete them."""
        w = self.w
        w.take_made(wait=True)
        _check_host(host)
        if self._remote("droptest", host, names) or self._linked("droptest", host):
            return
        for name in names:
            _check(name)
            path = os.path.join(self.rrddir, host, name)
            if os.path.islink(path):
                log.warning("droptest %s: %s is a symbolic link; left alone", host, name)
                continue
            f = w.table.get(host, name)
            if f is not None:
                w.table.remove(f)
            w.store.forget([path])
            try:
                os.unlink(path)
            except FileNotFoundError:
                log.debug("droptest %s: %s is gone already", host, name)
            except OSError as e:
                log.error("droptest %s: cannot delete %s: %s", host, name, e)

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        """Rename files of a host; values held for a file renamed (here or by the other
        rrdd) go to its new name."""
        w = self.w
        w.take_made(wait=True)
        _check_host(host)
        olds = [old for old, _ in renames]
        if self._remote("renametest", host, olds) or self._linked("renametest", host):
            return
        w.take_answers()  # rows in flight come back under the name they went with
        for old, new in renames:
            _check(old)
            _check(new)
            src, dst = os.path.join(self.rrddir, host, old), os.path.join(self.rrddir, host, new)
            if os.path.islink(src):
                log.warning("renametest %s: %s is a symbolic link; left alone", host, old)
                continue
            if os.path.lexists(src):
                if os.path.lexists(dst):
                    log.warning("renametest %s: %s exists, %s left as it is", host, new, old)
                    continue
                paths = w.flush(host, old)
                w.store.flush(paths)
                w.store.forget(paths)
                w.marks.file_renamed(host, old, new)
                try:
                    os.rename(src, dst)
                except FileNotFoundError:
                    log.debug("renametest %s: %s renamed by the other rrdd meanwhile", host, old)
                except OSError as e:
                    log.error("renametest %s: cannot rename %s to %s: %s", host, old, new, e)
                    continue
            w.marks.file_rename_done(host, old)
            w.marks.file_unrenamed(host, new)  # a name in use again leads nowhere else
            f = w.table.get(host, old)
            if f is not None and (f.pending or not f.made) and not os.path.lexists(src):
                w.move(f, host, new)
        w.flush(host)
        w.table.let_go(host)

    def _let_go(self, host: str) -> None:
        """Forget every record of the host and the values they hold."""
        self.w.making.dirs.discard(host)
        dropped = self.w.table.remove_host(host)
        if dropped:
            log.info("%s: %d pending values discarded", host, dropped)

    def _linked(self, what: str, host: str) -> bool:
        path = os.path.join(self.rrddir, host)
        if not os.path.islink(path):
            return False
        log.warning("%s %s: %s is a symbolic link, which rrdd does not follow", what, host, path)
        return True


def _check(name: str) -> None:
    reason = unsafe_name(name)
    if reason:
        raise ValueError(reason)


def _check_host(host: str) -> None:
    reason = unsafe_host(host)
    if reason:
        raise ValueError(reason)


def _remove_tree(path: str) -> None:
    """shutil.rmtree, while the other rrdd may be deleting the same tree (what it removed
    first is no error) or still making files in it for messages that came before its
    own drophost (a directory not empty at the end: removed again)."""
    for _ in range(10):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            if not os.path.lexists(path):
                return
        except OSError as e:
            if e.errno != errno.ENOTEMPTY:
                raise
    shutil.rmtree(path)
