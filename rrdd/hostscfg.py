"""hosts.cfg, for the one thing the RRD worker takes from it: a host's INTERFACES: filter.

xymond_rrd's ifstat handler only graphs the interfaces whose name matches the host's
``INTERFACES:<regex>`` tag (caseless, as Xymon compiles its patterns). Host lines are
``<IP> <hostname> # <tags>``; include and directory lines are followed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from rrdd.xymoncfg import numbered_lines

log = logging.getLogger("rrdd")

HOST_LINE = re.compile(r"[0-9A-Fa-f:.]+\s+(\S+)\s*#(.*)")


@dataclass(frozen=True)
class InterfaceFilters:
    """The INTERFACES: filter of each host, called with a host name. Two are equal when
    their filters are, so a reload can tell that hosts.cfg says what it said."""

    by_host: dict[str, re.Pattern[str]]

    def __call__(self, host: str) -> re.Pattern[str] | None:
        return self.by_host.get(host)


def load_interfaces(path: Path | None) -> InterfaceFilters:
    """The INTERFACES: filter of each host of hosts.cfg, as a lookup by host name."""
    filters: dict[str, re.Pattern[str]] = {}
    if path is not None:
        for where, line in numbered_lines(path, inline_comments=False):
            m = HOST_LINE.match(line)
            if m is None:
                continue
            for tag in m.group(2).split():
                if tag.startswith("INTERFACES:") and len(tag) > 11:
                    try:
                        filters.setdefault(m.group(1), re.compile(tag[11:], re.IGNORECASE))
                    except re.error as e:
                        log.warning("%s: %s: bad INTERFACES regex, ignored: %s", where, tag, e)
    return InterfaceFilters(filters)
