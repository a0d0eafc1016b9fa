"""hosts.cfg, for the one thing the RRD worker takes from it: a host's INTERFACES: filter.

xymond_rrd's ifstat handler only graphs the interfaces whose name matches the host's
``INTERFACES:<regex>`` tag (caseless, as Xymon compiles its patterns). Host lines are
``<IP> <hostname> # <tags>``; include and directory lines are followed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from rrdd.xymoncfg import numbered_lines

log = logging.getLogger("rrdd")

HOST_LINE = re.compile(r"[0-9A-Fa-f:.]+\s+(\S+)\s*#(.*)")


def load_interfaces(path: Path | None) -> Callable[[str], re.Pattern[str] | None]:
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
    return filters.get
