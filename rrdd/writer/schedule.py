"""When a file's held values are written: the schedule, a policy the writer is given.

The writer keeps each file's values in its record (table.py) and tells its schedule
when a made file holds values (`held`: it has none written or queued yet, or they came
back) or got one more (`added`); either answer says whether to write the file at once.
Between reads the writer asks which files are `due`, and hands back with `again` those
it could not write. Like carbon's drain strategies, a policy is a small class:

- `ByAge` (direct mode, the default): a file is written when it has `batch` values,
  or when its oldest value is `max_age` old, plus a random part of up to `jitter` of
  it per file, so that files do not all come due together. `writes_per_second` caps
  the writes it asks for (a flush asks for its own).
- `AtOnce` (--no-cache): every value is written as it comes.
- `EveryRead` (rrdcached): every file with values goes to the daemon between reads.

A policy may hold a file that has since been written, let go or renamed: `due` gives
only files that still hold values, and the writer writes a file once however often it
is given.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from rrdd.writer.table import RrdFile

CACHE_SIZE = 12  # xymond's: values per file before a write, about an hour at a 300 s step


@dataclass(frozen=True)
class CachePolicy:
    """What the settings say about holding and writing values (cache_age and the rest)."""

    batch: int = CACHE_SIZE
    max_age: float = 3600.0  # seconds a value may wait
    jitter: float = 0.2  # up to this share of max_age is added at random, per file
    writes_per_second: float = 0.0  # 0: no ceiling
    creates_per_second: float = 0.0  # 0: no ceiling
    max_pending: int = 2_000_000  # values held at most; then written at once, or shed
    max_files: int = 1_000_000  # files remembered; beyond it, idle ones are forgotten


class RateLimit:
    """At most `rate` events a second (0: no limit), saved up for at most a second, and
    for at least one event, so that a rate under 1 a second lets one through now and
    then."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.clock = rate, clock
        self._budget, self._time = 0.0, clock()

    def take(self) -> bool:
        """Whether one more event may happen now (it is counted if so)."""
        if not self.rate:
            return True
        now = self.clock()
        self._budget = min(max(self.rate, 1.0), self._budget + (now - self._time) * self.rate)
        self._time = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True


class Schedule(Protocol):
    def held(self, f: RrdFile, soon: bool = False) -> bool:
        """`f` is made and holds values without a turn to be written: give it one (with
        `soon`, at the next turn: its values have waited already). True: write it now."""

    def added(self, f: RrdFile) -> bool:
        """`f` (made) got one more value. True: write it now."""

    def due(self) -> list[RrdFile]:
        """The files whose turn has come, within the ceiling."""

    def again(self, files: Iterable[RrdFile]) -> None:
        """Files that could not be written (the store is away): first at the next turn."""

    def everything(self) -> list[RrdFile]:
        """Every file holding values that has a turn to come: all are written now (a
        commit), and their turns are over."""

    def reconfigure(self, policy: CachePolicy) -> None:
        """A reload: the new policy for what comes from now on."""

    def knows(self, f: RrdFile) -> bool:
        """Whether `f`, made and holding values, has a turn to come (an invariant the
        writer keeps, which tests check)."""


class ByAge:
    def __init__(self, policy: CachePolicy, monotonic: Callable[[], float] = time.monotonic):
        self.policy, self.monotonic = policy, monotonic
        self._timers: list[tuple[float, int, RrdFile]] = []  # (due, turn, file): a heap
        self._turns = itertools.count(1)  # each turn given has its number; a file, its last
        self._ready: deque[RrdFile] = deque()  # whose turn has come, waiting for the ceiling
        self._writes = RateLimit(policy.writes_per_second, monotonic)

    def held(self, f: RrdFile, soon: bool = False) -> bool:
        if f.count >= self.policy.batch and not soon:
            return self._full(f)
        wait = 0.0 if soon else self.policy.max_age * (1 + random.random() * self.policy.jitter)
        f.turn = next(self._turns)
        heapq.heappush(self._timers, (self.monotonic() + wait, f.turn, f))
        return False

    def added(self, f: RrdFile) -> bool:
        if f.count == 1:
            return self.held(f)
        return self._full(f) if f.count == self.policy.batch else False

    def _full(self, f: RrdFile) -> bool:
        if not self.policy.writes_per_second:
            return True
        self._ready.append(f)
        return False

    def due(self) -> list[RrdFile]:
        now = self.monotonic()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, turn, f = heapq.heappop(timers)
            if f.pending and f.turn == turn:  # else written, or given another turn since
                self._ready.append(f)
        out = []
        while self._ready:
            if not self._ready[0].pending:  # written since (a flush, or its other place)
                self._ready.popleft()
            elif self._writes.take():
                out.append(self._ready.popleft())
            else:
                break
        return out

    def again(self, files: Iterable[RrdFile]) -> None:
        self._ready.extendleft(reversed(list(files)))

    def everything(self) -> list[RrdFile]:
        files = [*self._ready, *(f for _, _, f in self._timers)]
        self._ready.clear()
        self._timers.clear()
        return [f for f in files if f.pending]

    def reconfigure(self, policy: CachePolicy) -> None:
        if policy.writes_per_second != self.policy.writes_per_second:
            self._writes = RateLimit(policy.writes_per_second, self.monotonic)
        self.policy = policy

    def knows(self, f: RrdFile) -> bool:
        return any(g is f for g in self._ready) or any(
            g is f and turn == f.turn for _, turn, g in self._timers
        )


class AtOnce:
    def held(self, f: RrdFile, soon: bool = False) -> bool:
        return True

    def added(self, f: RrdFile) -> bool:
        return True

    def due(self) -> list[RrdFile]:
        return []

    def again(self, files: Iterable[RrdFile]) -> None:
        pass  # written at their next value, or by a flush

    def everything(self) -> list[RrdFile]:
        return []

    def reconfigure(self, policy: CachePolicy) -> None:
        pass

    def knows(self, f: RrdFile) -> bool:
        return False  # a file written at once holds nothing after a write


class EveryRead:
    def __init__(self) -> None:
        self._dirty: list[RrdFile] = []

    def held(self, f: RrdFile, soon: bool = False) -> bool:
        self._dirty.append(f)
        return False

    def added(self, f: RrdFile) -> bool:
        if f.count == 1:
            self._dirty.append(f)
        return False

    def due(self) -> list[RrdFile]:
        dirty, self._dirty = self._dirty, []
        return [f for f in dirty if f.pending]

    def again(self, files: Iterable[RrdFile]) -> None:
        self._dirty[:0] = files

    def everything(self) -> list[RrdFile]:
        return self.due()

    def reconfigure(self, policy: CachePolicy) -> None:
        pass

    def knows(self, f: RrdFile) -> bool:
        return any(g is f for g in self._dirty)


def schedule_for(
    policy: CachePolicy, batched: bool, cache: bool, monotonic: Callable[[], float]
) -> Schedule:
    """The policy of a store that takes every value at once (rrdcached), or of a cache
    (direct mode), or of none (--no-cache)."""
    if batched:
        return EveryRead()
    return ByAge(policy, monotonic) if cache else AtOnce()
