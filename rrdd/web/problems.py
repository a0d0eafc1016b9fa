"""What the ingest processes refused, read back from the files they write in state_dir.

Every rrdd process (the status and the data channel's, and each --workers worker) appends
to its own ``problems.<pid>.jsonl`` in `state_dir` and rotates it to
``problems.<pid>.jsonl.1``. One JSON object per line:

    {"time": 1796604430.5, "pid": 4242, "host": "web1", "test": "cpu", "file": "la.rrd",
     "kind": "rejected", "reason": "...", "excerpt": "..."}

`time` is Unix seconds; `test` and `file` (the RRD file in the host's directory) may be
"", `excerpt` holds at most 400 characters of the input. `kind` is one of KINDS; a kind
this reader does not know is shown as it is. A line that is not such an object is skipped.

The reader takes the files newest first and reads each from its end, at most MAX_BYTES
in all, and keeps the newest MAX_PROBLEMS problems: the page stays quick however long the
files grow, and what it shows does not depend on when the web process started.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KINDS = {
    "parse_error": "the handler could not read the message",
    "bug": "a handler failed on the message (a bug in rrdd)",
    "rejected": "librrd or rrdcached refused the value",
    "refused": "an unsafe name, a bad string or an unprintable value",
    "ds_mismatch": "the file has other data sources than the message",
    "old_timestamp": "the value is not newer than the file's last update",
    "shed": "dropped: rrdd held more values than max_pending",
    "create_failed": "the RRD file could not be created",
    "open_failed": "the RRD file could not be read or made",
    "disk": "the disk refused the write",
    "extra_script": "the extra script failed or printed something unusable",
    "extra_timeout": "the extra script ran out of time",
}
MAX_PROBLEMS = 10_000
MAX_BYTES = 16 * 1024 * 1024
EXCERPT = 400
FILE_NAME = re.compile(r"problems\.\d+\.jsonl(\.1)?")


@dataclass(frozen=True, slots=True)
class Problem:
    time: float
    pid: int
    host: str
    test: str
    file: str
    kind: str
    reason: str
    excerpt: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_line(line: bytes) -> Problem | None:
    """One line of a problems file, or None when it is not a problem record."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    when, pid = obj.get("time"), obj.get("pid")
    if not isinstance(when, int | float) or isinstance(when, bool):
        return None
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    texts = [obj.get(k, "") for k in ("host", "test", "file", "kind", "reason", "excerpt")]
    if not all(isinstance(t, str) for t in texts) or not texts[3]:
        return None
    host, test, file, kind, reason, excerpt = texts
    return Problem(float(when), pid, host, test, file, kind, reason, excerpt[:EXCERPT])


class ProblemLog:
    """The newest problems of every file in `state_dir`; None means rrdd keeps none."""

    def __init__(
        self,
        state_dir: Path | None,
        max_problems: int = MAX_PROBLEMS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.state_dir = state_dir
        self.max_problems = max_problems
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, int, int], ...] = ()
        self._problems: list[Problem] = []
        self.sources: list[str] = []  # the files the last read took problems from

    def _files(self) -> list[tuple[Path, os.stat_result]]:
        if self.state_dir is None:
            return []
        found = []
        try:
            with os.scandir(self.state_dir) as entries:
                for entry in entries:
                    if FILE_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                        found.append((Path(entry.path), entry.stat(follow_symlinks=False)))
        except OSError:
            return []
        return sorted(found, key=lambda f: f[1].st_mtime_ns, reverse=True)

    def recent(self) -> list[Problem]:
        """The newest problems, newest first; the files are read again when they change."""
        files = self._files()
        seen = tuple((p.name, st.st_mtime_ns, st.st_size) for p, st in files)
        with self._lock:
            if seen == self._seen:
                return self._problems
            problems: list[Problem] = []
            budget = self.max_bytes
            sources = []
            for path, st in files:
                if budget <= 0 or len(problems) >= self.max_problems:
                    break
                data = _tail(path, min(st.st_size, budget))
                budget -= len(data)
                found = [p for p in map(parse_line, data.splitlines()) if p is not None]
                if found:
                    sources.append(path.name)
                problems.extend(found)
            problems.sort(key=lambda p: p.time, reverse=True)
            self._problems = problems[: self.max_problems]
            self._seen = seen
            self.sources = sources
            return self._problems


def _tail(path: Path, size: int) -> bytes:
    """The last `size` bytes of the file, without a line cut at their start."""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            start = max(0, end - size)
            # From the byte before: if it ends a line, the first line read is whole.
            f.seek(max(0, start - 1))
            data = f.read(size + (start > 0))
    except OSError:
        return b""
    return data.partition(b"\n")[2] if start > 0 else data
