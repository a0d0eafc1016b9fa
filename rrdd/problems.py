"""What rrdd refused or lost, reported once: counted, logged, and kept for `rrdd web`.

A `Problem` is a message, or a value of one, that was not stored, and why. The place
that finds it makes one call, `Problems.report(problem)`, which

- counts the problem's event (events.py: rrdd_parse_errors_total{handler},
  rrdd_values_lost_total{reason} ...), every time;
- hands it to the optional hook (the golden tests keep the dispatcher's beside the
  updates, so that a case that writes nothing says why), every time;
- logs ``host/file: reason`` (``host/test`` when no file is concerned) at the level
  `KINDS` gives the event;
- appends the same to the process's journal, ``<state_dir>/problems.<pid>.jsonl``,
  which `rrdd web` reads (rrdd/web/problems.py documents the format).

A flood costs neither a big log nor a big journal. The same problem (host, test, file
and event) is said at most once per REPEAT_SECONDS, and the line after that says how
many came meanwhile; and each event is said at most `Kind.lines` times an hour (old
timestamps, which a restart brings by the thousand, 10), beyond which one log line
an hour says how many more were only counted.

The journal is written between reads (`flush`, from the daemon's sync), never while a
message is handled: at a size cap it is rotated to ``problems.<pid>.jsonl.1``, and at
start the files of processes that have gone are removed but those of the KEEP_GONE
latest, so that a restart keeps recent problems and the directory stays bounded. A
state_dir that cannot be written is said once and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrdd.events import Counts, Event

log = logging.getLogger("rrdd.problems")

REPEAT_SECONDS = 3600.0  # the same problem is said once an hour at most
HOUR = 3600.0
LINES_PER_HOUR = 100  # lines of one event an hour at most, for distinct problems
EXCERPT = 400  # characters of the input kept with a problem
MAX_FILE = 1 << 20  # bytes of a journal before it is rotated
KEEP_GONE = 8  # processes gone whose journals are kept
MAX_KEYS = 10_000  # problems remembered for their repeats (they come from the network)
MAX_BUFFERED = 10_000  # lines held between two flushes
FILE_NAME = re.compile(r"problems\.([0-9]+)\.jsonl(\.1)?")


@dataclass(frozen=True, slots=True)
class Kind:
    """How the problems of one event are said."""

    name: str  # the journal's "kind" (rrdd/web/problems.py KINDS)
    level: int  # of the log line
    lines: int = LINES_PER_HOUR


# The events that are problems, and how each is said.
KINDS: dict[Event, Kind] = {
    Event.PARSE_ERRORS: Kind("parse_error", logging.WARNING),
    Event.PARSER_BUGS: Kind("bug", logging.ERROR),
    Event.UPDATES_REJECTED: Kind("rejected", logging.WARNING),
    Event.UPDATES_REFUSED: Kind("refused", logging.WARNING),
    Event.RRD_OPEN_ERRORS: Kind("open_failed", logging.ERROR),
    Event.VALUES_NOT_CREATED: Kind("create_failed", logging.ERROR),
    Event.VALUES_NOT_MOVED: Kind("ds_mismatch", logging.WARNING),
    Event.DS_MISMATCHES: Kind("ds_mismatch", logging.WARNING),
    Event.UPDATES_DROPPED_OLD: Kind("old_timestamp", logging.DEBUG, lines=10),
    Event.VALUES_SHED: Kind("shed", logging.ERROR),
    Event.DISK_ERRORS: Kind("disk", logging.ERROR),
    Event.VALUES_LOST_DISK: Kind("disk", logging.ERROR),
    Event.EXTRA_ERRORS: Kind("extra_script", logging.WARNING),
    Event.EXTRA_TIMEOUTS: Kind("extra_timeout", logging.WARNING),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """A message, or part of one, that was not stored, and why."""

    event: Event  # one of KINDS
    host: str
    test: str = ""
    file: str = ""  # the RRD file in the host's directory, when one is concerned
    reason: str = ""
    excerpt: str = ""  # of the input, for a message that could not be read
    handler: str = ""  # the handler id ("extra": the extra script)
    count: int = 1  # the values it concerns, as counted


@dataclass(slots=True)
class _Said:
    at: float  # when the problem was last said (monotonic)
    again: int = 0  # times it came since, not said
    last: Problem | None = None  # the latest of those


class Problems:
    """The one way rrdd reports a problem: see the module's docstring."""

    def __init__(
        self,
        counts: Counts,
        journal: Journal | None = None,
        hook: Callable[[Problem], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.counts = counts
        self.journal = journal
        self.hook = hook
        self.monotonic = monotonic
        self._said: dict[tuple[str, str, str, Event], _Said] = {}
        self._hour_ends = monotonic() + HOUR
        self._lines: Counter[Event] = Counter()  # said this hour
        self._unsaid: Counter[Event] = Counter()  # only counted this hour

    def report(self, p: Problem) -> None:
        event = p.event
        self.counts.add(event, p.count, p.handler if event.label is None else "")
        if self.hook is not None:
            self.hook(p)
        key = (p.host, p.test, p.file, event)
        now = self.monotonic()
        said = self._said.get(key)
        if said is not None and now - said.at < REPEAT_SECONDS:
            said.again += 1
            said.last = p
            return
        if now >= self._hour_ends:
            self._new_hour(now)
        kind = KINDS[event]
        if self._lines[event] >= kind.lines:
            if said is not None:  # said with its next line
                said.again += 1
                said.last = p
            else:
                self._unsaid[event] += 1
            return
        self._lines[event] += 1
        if len(self._said) >= MAX_KEYS:
            self._said.clear()
        self._said[key] = _Said(now)
        self._say(p, kind, 0 if said is None else said.again)

    def _say(self, p: Problem, kind: Kind, again: int, log_it: bool = True) -> None:
        reason = p.reason
        if again:
            reason += f" (and {again} more like it since the line before)"
        if log_it and log.isEnabledFor(kind.level):
            shown = f"; input: {p.excerpt[:EXCERPT]!r}" if p.excerpt else ""
            log.log(kind.level, "%.100s/%.100s: %s%s", p.host, p.file or p.test, reason, shown)
        if self.journal is not None:
            self.journal.add(
                {
                    "host": p.host,
                    "test": p.test,
                    "file": p.file,
                    "kind": kind.name,
                    "reason": reason,
                    "excerpt": p.excerpt[:EXCERPT],
                }
            )

    def _new_hour(self, now: float) -> None:
        for event, n in self._unsaid.items():
            log.log(
                KINDS[event].level,
                "%d more %s problems in the last hour were counted but not logged",
                *(n, KINDS[event].name),
            )
        self._unsaid.clear()
        self._lines.clear()
        self._hour_ends = now + HOUR

    def flush(self) -> None:
        """Between reads: write the journal's new lines."""
        if self.monotonic() >= self._hour_ends:
            self._new_hour(self.monotonic())
        if self.journal is not None:
            self.journal.flush()

    def close(self) -> None:
        """At exit: the repeats not said yet go to the journal (the log has had its
        line for each), and the journal is written."""
        for said in self._said.values():
            if said.again and said.last is not None:
                self._say(said.last, KINDS[said.last.event], said.again, log_it=False)
        self._said.clear()
        self.flush()


class Journal:
    """This process's problems file in state_dir: lines held in memory by `add`, and
    appended by `flush`."""

    def __init__(
        self,
        state_dir: Path,
        pid: int | None = None,
        max_bytes: int = MAX_FILE,
        keep: int = KEEP_GONE,
        clock: Callable[[], float] = time.time,
    ):
        self.state_dir = state_dir
        self.pid = os.getpid() if pid is None else pid
        self.path = state_dir / f"problems.{self.pid}.jsonl"
        self.max_bytes, self.keep, self.clock = max_bytes, keep, clock
        self._lines: list[str] = []
        self._failing = False

    def start(self) -> None:
        """Remove the journals of gone processes but the `keep` newest."""
        if not self.state_dir.is_dir():
            return  # made with the first problem
        try:
            newest: dict[int, float] = {}  # pid -> its newest file's time
            files: dict[int, list[Path]] = {}
            with os.scandir(self.state_dir) as entries:
                for entry in entries:
                    m = FILE_NAME.fullmatch(entry.name)
                    if m is None or int(m.group(1)) == self.pid or _alive(int(m.group(1))):
                        continue
                    pid = int(m.group(1))
                    files.setdefault(pid, []).append(Path(entry.path))
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                    newest[pid] = max(newest.get(pid, mtime), mtime)
            for pid in sorted(newest, key=newest.__getitem__, reverse=True)[self.keep :]:
                for path in files[pid]:
                    path.unlink(missing_ok=True)
        except OSError as e:
            self._failed(e)

    def add(self, record: dict[str, Any]) -> None:
        if len(self._lines) >= MAX_BUFFERED:
            return
        line = {"time": round(self.clock(), 3), "pid": self.pid, **record}
        # Names and input may hold bytes that are not UTF-8 (kept by surrogateescape):
        # the journal is UTF-8 JSON that any reader can take.
        for name, value in record.items():
            if isinstance(value, str) and not value.isascii():
                line[name] = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        self._lines.append(json.dumps(line, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        if not self._lines:
            return
        data = "".join(self._lines).encode()
        self._lines.clear()
        try:
            self.state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size >= self.max_bytes:
                os.replace(self.path, f"{self.path}.1")
        except OSError as e:
            self._failed(e)
            return
        if self._failing:
            self._failing = False
            log.info("Problems are written to %s again", self.path)

    def _failed(self, e: OSError) -> None:
        if not self._failing:
            log.warning(
                "Cannot write problems to %s (%s): rrdd web will not show them",
                self.state_dir,
                e.strerror or e,
            )
        self._failing = True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    return True
