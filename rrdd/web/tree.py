"""The RRD tree as `rrdd web` reads it: hosts, their RRD files, and what each file holds.

Every host and file name that comes from a URL is looked up through `Tree.host_dir` and
`Tree.rrd_file`: the name must be one safe path component (schema.unsafe_name), not
hidden (rrdd keeps `.renamed/` in the RRD directory; Xymon skips dot-files too), and what
it resolves to, symlinks followed, must still be inside the RRD directory. Anything else
is `NotFound`, which the web answers with a 404.

librrd keeps its error message in a global, so every call into it holds `RRD_LOCK`.
`Tree.info` reads a file's header once per change of the file (its size and mtime).

Staleness: a file is stale when its last update is older than two steps plus the time a
value may wait in rrdd's cache before it is written (1.2 x cache_age, as the cache adds up
to 20% at random; nothing with cache = false). Xymon itself only leaves files not written
for 24 hours out of showgraph's multi-file graphs (its "nostale" option).
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import rrdtool

from rrdd.schema import unsafe_name

RRD_LOCK = threading.Lock()


class NotFound(Exception):
    """A host or file name that does not name a host or RRD file of the tree."""


class Unreadable(Exception):
    """An RRD file librrd cannot read; the message is librrd's."""


@dataclass(frozen=True, slots=True)
class DataSource:
    name: str
    type: str
    heartbeat: int
    min: float | None
    max: float | None
    last: str  # the last value librrd received, as it received it ("U" for unknown)


@dataclass(frozen=True, slots=True)
class Archive:
    cf: str
    pdp_per_row: int
    rows: int
    resolution: int  # seconds per row
    span: int  # seconds the archive covers


@dataclass(frozen=True, slots=True)
class RrdInfo:
    step: int
    last_update: int
    ds: tuple[DataSource, ...]
    rras: tuple[Archive, ...]


def read_info(path: Path) -> RrdInfo:
    """The header of one RRD file, through librrd; raises Unreadable."""
    try:
        with RRD_LOCK:
            raw = rrdtool.info(os.fspath(path))
    except rrdtool.OperationalError as e:
        raise Unreadable(str(e)) from None
    step = int(raw["step"])
    names = sorted(
        (int(raw[key]), key[3:-7])
        for key in raw
        if key.startswith("ds[") and key.endswith("].index")
    )
    ds = tuple(
        DataSource(
            name=name,
            type=str(raw[f"ds[{name}].type"]),
            heartbeat=int(raw.get(f"ds[{name}].minimal_heartbeat") or 0),
            min=raw.get(f"ds[{name}].min"),
            max=raw.get(f"ds[{name}].max"),
            last=str(raw.get(f"ds[{name}].last_ds", "U")),
        )
        for _, name in names
    )
    rras = []
    index = 0
    while f"rra[{index}].cf" in raw:
        pdp = int(raw[f"rra[{index}].pdp_per_row"])
        rows = int(raw[f"rra[{index}].rows"])
        cf = str(raw[f"rra[{index}].cf"])
        rras.append(Archive(cf, pdp, rows, pdp * step, pdp * step * rows))
        index += 1
    return RrdInfo(step, int(raw["last_update"]), ds, tuple(rras))


def first_update(path: Path, info: RrdInfo) -> int | None:
    """The time of the oldest value the file still holds, in any of its archives.

    A coarse archive's row is known only once enough fine rows are (its xff), so the
    oldest value can be in any archive: each is read back over its whole span.
    """
    oldest = None
    for rra in info.rras:
        end = info.last_update - info.last_update % rra.resolution
        try:
            with RRD_LOCK:
                (start, _, step), _, rows = rrdtool.fetch(
                    os.fspath(path),
                    rra.cf,
                    *("-r", str(rra.resolution), "-s", str(end - rra.span), "-e", str(end)),
                )
        except rrdtool.OperationalError:
            continue
        for number, row in enumerate(rows):
            if any(value is not None for value in row):
                found = int(start) + number * int(step)
                oldest = found if oldest is None else min(oldest, found)
                break
    return oldest


class Tree:
    """The hosts and RRD files below `rrddir`, looked up safely; reads only."""

    def __init__(self, rrddir: Path, cache_allowance: float) -> None:
        self.root = Path(os.path.realpath(rrddir))
        self._prefix = os.path.join(self.root, "")  # what every path inside starts with
        self.cache_allowance = cache_allowance  # seconds a value may wait before it is written
        self._infos: dict[Path, tuple[tuple[int, int], RrdInfo | Unreadable]] = {}
        self._lock = threading.Lock()

    def _resolve(self, path: str, want_dir: bool) -> Path:
        """`path`, whose directory is known to be inside, if it is a directory (or a
        regular file) inside: only a symlink needs resolving, to see where it leads."""
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                path = os.path.realpath(path)
                if not path.startswith(self._prefix):
                    raise NotFound(f"{path} is outside the RRD directory")
                mode = os.stat(path).st_mode
        except OSError:
            raise NotFound(path) from None
        if not (stat.S_ISDIR(mode) if want_dir else stat.S_ISREG(mode)):
            raise NotFound(path)
        return Path(path)

    def host_dir(self, host: str) -> Path:
        """The directory of `host`, resolved; NotFound unless it is a host of the tree."""
        if unsafe_name(host) or host.startswith("."):
            raise NotFound(host)
        return self._resolve(os.path.join(self.root, host), want_dir=True)

    def rrd_file(self, host: str, name: str) -> Path:
        """The RRD file `name` of `host`, resolved; NotFound unless it is one."""
        if not _rrd_name(name):
            raise NotFound(name)
        return self._resolve(os.path.join(self.host_dir(host), name), want_dir=False)

    def hosts(self) -> list[str]:
        """Every host directory's name, sorted."""
        found = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                try:
                    self.host_dir(entry.name)
                except NotFound:
                    continue
                found.append(entry.name)
        return sorted(found)

    def files(self, host: str) -> dict[str, Path]:
        """The RRD files of `host` by name, sorted; NotFound for no such host."""
        directory = self.host_dir(host)
        found = {}
        with os.scandir(directory) as entries:
            for entry in entries:
                if not _rrd_name(entry.name):
                    continue
                try:
                    found[entry.name] = self._resolve(entry.path, want_dir=False)
                except NotFound:
                    continue
        return dict(sorted(found.items()))

    def info(self, path: Path) -> RrdInfo:
        """What the file holds, read again only when it changed; raises Unreadable."""
        try:
            st = os.stat(path)
        except OSError as e:
            raise Unreadable(e.strerror or str(e)) from None
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable("not a regular file")
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._infos.get(path)
        if cached is None or cached[0] != key:
            try:
                result: RrdInfo | Unreadable = read_info(path)
            except Unreadable as e:
                result = e
            with self._lock:
                self._infos[path] = (key, result)
        else:
            result = cached[1]
        if isinstance(result, Unreadable):
            raise result
        return result

    def stale_after(self, info: RrdInfo) -> float:
        """Seconds without an update after which the file is stale."""
        return 2 * info.step + self.cache_allowance

    def is_stale(self, info: RrdInfo, now: float) -> bool:
        return now - info.last_update > self.stale_after(info)


def _rrd_name(name: str) -> bool:
    """Whether `name` can be an RRD file of a host's directory (not hidden, safe)."""
    return name.endswith(".rrd") and not name.startswith(".") and unsafe_name(name) is None


def cache_allowance(cache: bool, cache_age: float) -> float:
    """How long rrdd may hold a value before its file has it (see the module's docstring)."""
    return 1.2 * cache_age if cache else 0.0
