"""What several client-report handlers share: where the report starts and its OS.

A client section reaches xymond_rrd either bare or behind the ``status``/``data`` line
of the message that carried it; the second line of a client report names the OS the way
``uname -s`` (lower-cased) or the client's own name does.
"""

from __future__ import annotations

import re

from rrdd.errors import ParseError

# get_ostype(): the leading [A-Za-z0-9/_-] run of the OS line, caseless -> OS; a name
# starting with "irix" is irix.
OSNAMES = {
    "solaris": "solaris", "sunos": "solaris", "hpux": "hpux", "hp-ux": "hpux", "aix": "aix",
    "osf": "osf", "osf1": "osf", "win32": "win32", "hmdc": "hmdc", "bbwin": "bbwin",
    "powershell": "powershell", "freebsd": "freebsd", "netbsd": "netbsd", "openbsd": "openbsd",
    "debian3": "linux22", "linux22": "linux22", "linux": "linux", "redhat": "linux",
    "debian": "linux", "suse": "linux", "mandrake": "linux", "redhatas": "linux",
    "redhates": "rhel3", "rhel3": "rhel3", "snmp": "snmp", "snmpnetstat": "snmp",
    "macosx": "darwin", "darwin": "darwin", "sco_sv": "sco_sv", "unixware": "sco_sv",
    "netware_snmp": "netware_snmp", "zvm": "zvm", "zvse": "zvse", "zos": "zos",
    "snmpcollect": "snmpcollect", "mqcollect": "mqcollect", "gnu/kfreebsd": "gnu/kfreebsd",
}  # fmt: skip
OSWORD = re.compile(r"[A-Za-z0-9/_-]*")


def ostype(body: str, pos: int = 0) -> str:
    """Xymon's get_ostype() of the line at `pos`, as its canonical name; else "unknown"."""
    m = OSWORD.match(body, pos)
    word = m.group().lower() if m else ""
    return OSNAMES.get(word) or ("irix" if word.startswith("irix") else "unknown")


def skip_first_line(body: str) -> int:
    """Where the report starts: after a "status ..." or "data ..." line (the end of the
    body when that line is all there is), else at 0."""
    if body.startswith(("status", "data")):
        return body.find("\n") + 1 or len(body)
    return 0


def os_line(body: str, handler: str) -> tuple[str, str, int]:
    """The report's OS line: (its OS as ostype() names it, the line as sent, where the
    lines after it start). A report that ends on that line is a ParseError."""
    start = skip_first_line(body)
    end = body.find("\n", start)
    if end < 0:
        raise ParseError(f"too few lines in the {handler} report: nothing after the OS line")
    return ostype(body, start), body[start:end], end + 1
