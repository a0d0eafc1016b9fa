"""What a parser may know besides its message: settings it needs and state across messages.

Parsers are pure functions of (message, context). Anything that must outlive one
message (which hosts send a memory report, when a handler first ran) lives here, and
the clock is injectable so tests can move time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def _no_files(host: str, rrd: str) -> tuple[str, ...] | None:
    return None


def _no_filter(host: str) -> re.Pattern[str] | None:
    return None


@dataclass
class Context:
    clock: Callable[[], float] = time.time
    # The DS names of an existing RRD file of a host, or None: for handlers that pick a
    # legacy layout when an old file has one (sendmail, vmstat). The writer provides it.
    existing_ds: Callable[[str, str], tuple[str, ...] | None] = _no_files
    pingcolumn: str = "conn"  # PINGCOLUMN: the column of ping times
    # A host's hosts.cfg INTERFACES: filter for ifstat, or None.
    interfaces: Callable[[str], re.Pattern[str] | None] = _no_filter
    rrddisks: re.Pattern[str] | None = None  # RRDDISKS: only these mount points (caseless)
    norrddisks: re.Pattern[str] | None = None  # NORRDDISKS: never these mount points
    mibs: Mapping[str, Any] = field(default_factory=dict)  # snmpmibs.cfg: MIB name -> definition
    ncv: Mapping[str, str] = field(default_factory=dict)  # NCV_<test>: test -> "name:TYPE,..."
    splitncv: Mapping[str, str] = field(default_factory=dict)  # SPLITNCV_<test>
    trackmax: frozenset[str] = frozenset()  # TRACKMAX: tests whose NCV files keep maxima
    memhosts: set[str] = field(default_factory=set)  # hosts that send a "memory" status
    first_seen: dict[str, float] = field(default_factory=dict)  # handler id -> first run time

    def uptime(self, handler: str) -> float:
        """Seconds since `handler` first ran in this process (0 on its first run)."""
        now = self.clock()
        return now - self.first_seen.setdefault(handler, now)
