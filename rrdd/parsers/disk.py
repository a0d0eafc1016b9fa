"""disk: file system use from df-style reports.

Handles: disk, inode, qtree, quotas, snapshot, TblSpace

Sample body (Linux, ``df -Pk``)::

    status web01.disk green Tue Jan  7 10:00:01 CET 2025 - Filesystems ok
    Filesystem     1024-blocks     Used Available Capacity Mounted on
    /dev/sda1         41152736 12345678  26693564      32% /
    /dev/sdb1        103081248 51234567  46587801      53% /data

The layout is chosen from the whole body (IRIX, AS/400, NetWare, NetApp, BBWin, NT,
Unix); Unix reports start as NT because of the word "Filesystem" and switch to Unix at
the first row whose device has a slash, as in xymond. Reports of the hobbit-perl-client
scripts (``netapp.pl``, ``dbcheck.pl`` in the body) are read by their own modules. Lines
without a slash (except on AS/400), alert lines (``&...``, `` red ``, `` yellow ``), the
first line, and rows of an unreachable mount (``-`` used and size) are skipped. Only the
first word of a mount point with spaces is used. RRDDISKS and NORRDDISKS (caseless
regexes on the mount point) select the file systems.

Writes:
    <test><mount>.rrd   pct (GAUGE 0..100), used (GAUGE, KB or inodes as reported);
                        the mount with "/" -> ",", "/" alone -> ",root": disk,root.rrd,
                        disk,var,log.rrd, inode,home.rrd, disk,C.rrd
"""

from __future__ import annotations

from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._fdlib import percent, space_split
from rrdd.parsers.dbcheck import dbcheck_tablespace
from rrdd.parsers.netapp import netapp_disk
from rrdd.schema import Schema, Update, commas, rrdname

SCHEMA = Schema.of("DS:pct:GAUGE:600:0:100", "DS:used:GAUGE:600:0:U")

# (marker in the body, layout), first match wins
LAYOUTS = (
    (" xfs ", "irix"),
    (" efs ", "irix"),
    (" cxfs ", "irix"),
    ("DASD", "as400"),
    ("NetWare Volumes", "netware"),
    ("NetAPP", "netapp"),
    ("Summary", "bbwin"),  # BBWin 0.10 and later, PowerShell
    ("Filesystem", "nt"),
)
# layout -> (column of the name, column of the percentage, column of the used amount)
COLUMNS = {
    "unix": (5, 4, 2),
    "nt": (0, 4, 2),
    "bbwin": (0, 4, 2),
    "irix": (6, 5, 3),
    "netapp": (1, 5, 3),
    "netware": (1, 7, 3),
}
NETAPP_UNITS = {"M": 1024, "G": 1024**2, "T": 1024**3}  # NetApp sizes -> KB


@register("disk", "inode", "qtree", "quotas", "snapshot", "TblSpace", files=("{test},*.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    if "netapp.pl" in body:  # the hobbit-perl-client scripts' own layouts
        yield from netapp_disk(msg, ctx)
        return
    if "dbcheck.pl" in body:
        yield from dbcheck_tablespace(msg, ctx)
        return
    layout = _layout(body)
    if layout == "nt":
        body = body.split("<b>Limits:</b>", 1)[0]  # MrBig appends HTML threshold tables
    alerts = layout not in ("netapp", "netware", "as400")  # skip "&red ..." lines and such
    mark = "DASD" if layout == "as400" else "/"  # a line without it holds no file system
    wanted = ctx.rrddisks is not None or ctx.norrddisks is not None
    for line in body.split("\n")[1:]:  # the first line never holds a file system
        if mark not in line:
            continue
        if alerts and (line.startswith("&") or " red " in line or " yellow " in line):
            continue
        cols = space_split(line)[:20]  # spaces separate, tabs do not
        ncols = len(cols)
        cols += [""] * (20 - ncols)
        if cols[1] == "-" and cols[2] == "-":
            continue  # an unreachable mount: no reading, so nothing to trend
        if layout == "nt" and cols[5] and "/" in cols[0]:
            layout = "unix"  # a Unix df: its header said "Filesystem"
        name, pct, used = _row(layout, cols, ncols)
        if pct == -1 or (wanted and not _wanted(name, ctx)):
            continue
        diskname = commas(name)
        if diskname == ",":
            diskname = ",root"
        yield Update(
            rrdname(f"{msg.testname}{diskname}.rrd"),
            SCHEMA,
            (str(pct), str(used)),
            params=(msg.testname, diskname),
        )


def _layout(body: str) -> str:
    for marker, layout in LAYOUTS:
        if marker in body:
            return layout
    return "unix"


def _row(layout: str, cols: list[str], ncols: int) -> tuple[str, int, int]:
    """The mount point, percentage and used amount of one row."""
    if layout == "as400":
        return "/DASD", percent(cols[ncols - 1]), 0
    iname, ipct, iused = COLUMNS[layout]
    name = cols[iname]
    if layout in ("nt", "bbwin"):
        name = "/" + name
    pct = percent(cols[ipct])
    used = strtoll(cols[iused])
    if layout == "netapp":
        unit = cols[iused].lstrip("0123456789")[:1]
        used *= NETAPP_UNITS.get(unit, 1)
    return name, pct, used


def _wanted(name: str, ctx: Context) -> bool:
    if ctx.norrddisks is not None and ctx.norrddisks.search(name):
        return False
    return ctx.rrddisks is None or ctx.rrddisks.search(name) is not None
