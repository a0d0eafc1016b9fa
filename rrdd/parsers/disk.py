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
from functools import lru_cache

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._fdlib import only_spaces, percent, space_split
from rrdd.parsers.dbcheck import dbcheck_tablespace
from rrdd.parsers.netapp import netapp_disk
from rrdd.schema import STEP, Schema, Update, commas, rrdname

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
# A whole percentage as df writes it -> the text percent() and str() make of it
PERCENT_TEXT = {f"{n}%": str(n) for n in range(101)}
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
    # Spaces separate columns, tabs do not (strtok(" ")). str.split() does the same when
    # the space is the only blank; one look at the whole body costs less than the look
    # space_split() takes at each row.
    split = str.split if only_spaces(body) else space_split
    test = msg.testname
    lines = body.split("\n")
    del lines[0]  # the first line never holds a file system
    for line in lines:
        if mark not in line:
            continue
        # line[0] exists: the line holds the mark
        if alerts and (line[0] == "&" or " red " in line or " yellow " in line):
            continue
        cols = split(line)
        ncols = len(cols)
        if ncols > 2 and cols[1] == "-" and cols[2] == "-":
            continue  # an unreachable mount: no reading, so nothing to trend
        if layout == "nt" and ncols > 5 and "/" in cols[0]:
            layout = "unix"  # a Unix df: its header said "Filesystem"
        if layout == "unix" and ncols > 5:
            # The common row. Its numbers are kept as the text they are when reading them
            # and printing them back would give the same text: a capacity such as "42%",
            # a used amount of plain digits without a leading zero, too short to saturate.
            name, pct, used = cols[5], PERCENT_TEXT.get(cols[4]), cols[2]
            if pct is None:
                pct = str(percent(cols[4]))
            if not (used.isascii() and used.isdigit() and used[0] != "0" and len(used) < 19):
                used = str(strtoll(used))
        else:
            name, number, amount = _row(layout, cols)
            pct, used = str(number), str(amount)
        if pct == "-1" or (wanted and not _wanted(name, ctx)):
            continue
        rrd, params = _file(test, name)
        yield Update(rrd, SCHEMA, (pct, used), STEP, False, params)  # positional: cheaper


@lru_cache(maxsize=4096)
def _file(test: str, name: str) -> tuple[str, tuple[str, str]]:
    """The RRD file of a mount point and the parts of its name.

    Cached because a host reports the same mounts every few minutes, and building the
    name is a good part of the cost of a row; the size bounds it against odd input.
    """
    diskname = commas(name)
    if diskname == ",":
        diskname = ",root"
    return rrdname(f"{test}{diskname}.rrd"), (test, diskname)


def _layout(body: str) -> str:
    for marker, layout in LAYOUTS:
        if marker in body:
            return layout
    return "unix"


def _row(layout: str, cols: list[str]) -> tuple[str, int, int]:
    """The mount point, percentage and used amount of one row."""
    if layout == "as400":
        return "/DASD", percent(cols[min(len(cols), 20) - 1]), 0  # xymond reads 20 columns
    cols = cols + [""] * 8  # a column the row lacks reads as "" (no layout reads past 7)
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
