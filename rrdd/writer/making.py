"""Making new RRD files: their create arguments, where they are made, and the ceiling.

A missing file is created on its first update (even with --no-rrd, as xymond_rrd does)
with start = min(now, first update) - 10 s, so that a live stream gives xymond's files
exactly and a replayed backlog is not rejected. Its RRAs come from rrddefinitions.cfg
(the test's, else the default), with TRACKMAX a MAX RRA beside each AVERAGE one.

A file is made in this process through the store, or by a creator process
(creator.py) while rrdd reads on, or waits for `creates_per_second`. Every argument is
checked before librrd gets it (schema.unfit_for_librrd), and a file just made is checked
whole (store.cut_short): librrd may leave none, or a short one, on a full disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable

from rrdd.schema import unfit_for_librrd
from rrdd.writer.creator import Creators
from rrdd.writer.schedule import RateLimit
from rrdd.writer.store import Refused, Store, StoreError, cut_short
from rrdd.writer.table import RrdFile, State
from rrdd.xymoncfg import RraDefinitions

log = logging.getLogger("rrdd.writer")

NO_FILE, CUT_SHORT = "librrd made no file", "the new file was cut short (removed)"

Made = tuple[RrdFile, str | None, bool]  # a file, the error if not made, whether it crashed


class Making:
    def __init__(
        self,
        rrddir: str,
        rras: RraDefinitions,
        store: Store,
        creators: Creators | None,
        creates_per_second: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.rrddir, self.rras, self.store, self.creators = rrddir, rras, store, creators
        self.clock, self.monotonic = clock, monotonic
        self.ceiling = RateLimit(creates_per_second, monotonic)
        self.waiting: deque[RrdFile] = deque()  # for the ceiling
        self.making: dict[str, RrdFile] = {}  # path -> file a creator process is making
        self.dirs: set[str] = set()  # host directories made or found since start

    def start(self, f: RrdFile, first: int) -> bool:
        """Make a new file now, in a creator, or later (the ceiling). True when made now.
        Raises Refused, StoreError or OSError when it cannot be made now."""
        f.ds = f.schema.names
        if not self.ceiling.take():
            f.state = State.WAITING
            f.last = min(int(self.clock()), first) - 10
            self.waiting.append(f)
            return False
        if self.creators is None:
            self.now(f, first)
            return True
        start, args = self.args(f, first)
        self.host_dir(f.host)
        self.creators.submit(f.path, args)
        self.making[f.path] = f
        f.state, f.last = State.MAKING, max(f.last, start)
        return False

    def now(self, f: RrdFile, first: int) -> None:
        """Make the file in this process. Raises Refused, StoreError or OSError."""
        start, args = self.args(f, first)
        if self.store.files_here:
            self.host_dir(f.host)
        self.store.create(f.path, args)
        broken = self.not_whole(f.path) if self.store.files_here else None
        if broken is not None:
            raise StoreError(broken)
        f.last, f.ds, f.state = max(f.last, start), f.schema.names, State.MADE

    def args(self, f: RrdFile, first: int) -> tuple[int, list[str]]:
        """The start (10 s before now, or before `first` if that is earlier) and the
        arguments of rrdtool create. Raises Refused when librrd must not get one."""
        start = min(int(self.clock()), first) - 10
        rras = self.rras.lookup(f.test, f.step)
        if f.track_max:  # TRACKMAX: a MAX RRA beside each AVERAGE one
            averages = [r for r in rras if r.startswith("RRA:AVERAGE:")]
            rras = (*rras, *(r.replace("RRA:AVERAGE:", "RRA:MAX:", 1) for r in averages))
        step = [] if any(a.startswith(("-s", "--step")) for a in rras) else ["-s", str(f.step)]
        args = ["-b", str(start), *step, *f.schema.defs, *rras]
        for arg in args:
            reason = unfit_for_librrd(arg)
            if reason:
                raise Refused(f"the create argument {reason}")
        return start, args

    def host_dir(self, host: str) -> None:
        if host not in self.dirs:
            os.makedirs(os.path.join(self.rrddir, host), exist_ok=True)
            self.dirs.add(host)

    def finished(self, wait: bool) -> list[Made]:
        """The files the creators have made, or not (with `wait`, all under way)."""
        if self.creators is None:
            return []
        out = []
        for path, error, crashed in self.creators.finished(wait):
            f = self.making.pop(path, None)
            if f is None:
                continue  # none: a drop or rename takes the files under way first
            if error is None:
                error = self.not_whole(path)
            f.state = State.MADE if error is None else State.WAITING
            out.append((f, error, crashed))
        return out

    def turn_of_waiting(self) -> list[RrdFile]:
        """Files that waited for the ceiling and may be made now."""
        out = []
        while self.waiting and self.ceiling.take():
            out.append(self.waiting.popleft())
        return out

    def not_whole(self, path: str) -> str | None:
        """Why a file just made is no whole RRD (it is removed, to be made again), or None."""
        try:
            if not cut_short(path):
                return None
        except FileNotFoundError:
            return NO_FILE
        except OSError as e:
            return f"the new file cannot be read: {e}"
        with contextlib.suppress(OSError):
            os.unlink(path)
        return CUT_SHORT

    def reconfigure(self, rras: RraDefinitions, creates_per_second: float) -> None:
        self.rras = rras
        if creates_per_second != self.ceiling.rate:
            self.ceiling = RateLimit(creates_per_second, self.monotonic)

    def close(self) -> None:
        if self.creators is not None:
            self.creators.close()  # idle by now: every file under way was taken in
