"""netapp: NetApp filer reports from hobbit-perl-client's netapp.pl.

Handles: stats, ops, cifs, snapmirr, snaplist (and ``netapp_disk`` for the disk parser)

Sample body (``ops``)::

    status filer01,example,com.ops green Sun Nov 22 02:01:11 UTC 2026 Operations
    NFS_ops:        1843 ops/s
    CIFS_ops:        312 ops/s
    HTTP_ops:          0 ops/s
    FCP_ops:          57 ops/s
    iSCSI_ops:       121 ops/s
    Total_ops:      2333 ops/s
    netapp.pl version 1.15

A handler writes nothing unless the body contains ``netapp.pl``. Each value is read from
the first line holding its key (a substring match over the whole body), after the first
``:`` (else ``=``); a missing key reads as 0, as in xymond. ``stats`` values are KB: an
``M``, ``G`` or ``T`` after the number multiplies by 1024, 1024² or 1024³. ``ops``
writes each count into its own DS (xymond stores HTTP in iSCSIops, FCP in HTTPops and
iSCSI in FCPops).

``snapmirr`` and ``snaplist`` read the lines of the first ``<!--`` ... ``-->`` block after
its first line: ``name=size`` and ``volume=young:old`` (sizes as integers)::

    <!--
    filer02:vol_data=4620
    -->

Disk-style reports (disk, inode, qtree, quotas, snapshot, TblSpace) that contain
``netapp.pl`` are read by `netapp_disk`, which the disk parser calls: df rows from the
second line on, the name from the "Mounted on" column (the first column when the body
says ``netappnewdf``), everything after it kept with ``_`` for each blank; a
``snap reserve`` row has one column more.

Writes:
    <test>.rrd (stats)   NETread NETwrite DISKread DISKwrite TAPEread TAPEwrite FCPin FCPout
                         (GAUGE, KB)
    <test>.rrd (ops)     NFSops CIFSops iSCSIops HTTPops FCPops Totalops (GAUGE)
    <test>.rrd (cifs)    sessions openshares openfiles locks credentials opendirectories
                         ChangeNotifies sessionsusingsecuri (GAUGE)
    <test>,<name>.rrd (snapmirr)      size (GAUGE)
    <test>,<volume>.rrd (snaplist)    youngsize oldsize (GAUGE)
    <test><mount>.rrd (netapp_disk)   pct (GAUGE, no maximum), used (GAUGE, KB);
                                      "/" -> ",", "/" alone -> ",root"
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._fdlib import (
    comment_block,
    disk_update,
    get_kb,
    get_long,
    percent,
    strtok,
    tokens,
    used_kb,
)
from rrdd.schema import Schema, Update, commas, rrdname

MARKER = "netapp.pl"


def _gauges(*names: str) -> Schema:
    return Schema.of(*(f"DS:{n}:GAUGE:600:0:U" for n in names))


STATS = _gauges(
    "NETread", "NETwrite", "DISKread", "DISKwrite", "TAPEread", "TAPEwrite", "FCPin", "FCPout"
)
STATS_KEYS = (
    "NET_read", "NET_write", "DISK_read", "DISK_write", "TAPE_read", "TAPE_write", "FCP_in",
    "FCP_out",
)  # fmt: skip
OPS = _gauges("NFSops", "CIFSops", "iSCSIops", "HTTPops", "FCPops", "Totalops")
# xymond writes HTTP, FCP and iSCSI into iSCSIops, HTTPops and FCPops; each goes to its own.
OPS_KEYS = ("NFS_ops", "CIFS_ops", "iSCSI_ops", "HTTP_ops", "FCP_ops", "Total_ops")
CIFS = _gauges(
    "sessions", "openshares", "openfiles", "locks", "credentials", "opendirectories",
    "ChangeNotifies", "sessionsusingsecuri",
)  # fmt: skip
CIFS_KEYS = (
    "sessions", "open_shares", "open_files", "locks", "credentials", "open_directories",
    "ChangeNotifies", "sessions_using_security_signatures",
)  # fmt: skip
SNAPMIRR = _gauges("size")
SNAPLIST = _gauges("youngsize", "oldsize")
DISK = _gauges("pct", "used")


@register("stats", files=("{test}.rrd",))
def parse_stats(msg: Message, ctx: Context) -> Iterator[Update]:
    if MARKER in msg.body:
        values = tuple(get_kb(msg.body, key) for key in STATS_KEYS)
        yield Update(rrdname(f"{msg.testname}.rrd"), STATS, values)


@register("ops", files=("{test}.rrd",))
def parse_ops(msg: Message, ctx: Context) -> Iterator[Update]:
    if MARKER in msg.body:
        values = tuple(get_long(msg.body, key) for key in OPS_KEYS)
        yield Update(rrdname(f"{msg.testname}.rrd"), OPS, values)


@register("cifs", files=("{test}.rrd",))
def parse_cifs(msg: Message, ctx: Context) -> Iterator[Update]:
    if MARKER in msg.body:
        values = tuple(get_long(msg.body, key) for key in CIFS_KEYS)
        yield Update(rrdname(f"{msg.testname}.rrd"), CIFS, values)


@register("snapmirr", files=("{test},*.rrd",))
def parse_snapmirr(msg: Message, ctx: Context) -> Iterator[Update]:
    for line in _block_lines(msg.body):
        name, eq, size = line.partition("=")
        if eq:
            yield Update(
                rrdname(f"{msg.testname},{commas(name)}.rrd"), SNAPMIRR, (str(strtoll(size)),)
            )


@register("snaplist", files=("{test},*.rrd",))
def parse_snaplist(msg: Message, ctx: Context) -> Iterator[Update]:
    for line in _block_lines(msg.body, keep_empty=True):
        # xymond writes every line, one without "=" (even an empty one) with sizes 0
        cols = strtok(line, "=", ":")[:5] + ["", "", ""]
        values = (str(strtoll(cols[1])), str(strtoll(cols[2])))
        yield Update(rrdname(f"{msg.testname},{commas(cols[0])}.rrd"), SNAPLIST, values)


def _block_lines(body: str, keep_empty: bool = False) -> list[str]:
    """The lines of the first comment block after its first line, when netapp.pl sent it."""
    block = comment_block(body) if MARKER in body else None
    if block is None or "\n" not in block:
        return []
    lines = block.split("\n")[1:]
    if lines[-1] == "":
        lines.pop()  # the end of the block, not a line
    return lines if keep_empty else [line for line in lines if line]


def netapp_disk(msg: Message, ctx: Context) -> Iterator[Update]:
    """A disk-style report from netapp.pl (xymond's do_netapp_disk); the disk parser calls it
    for any of its ids when the body contains "netapp.pl", before it looks for dbcheck.pl."""
    newdf = "netappnewdf" in msg.body
    for line in msg.body.split("\n")[1:]:
        if "/" not in line or line.startswith("&") or " red " in line or " yellow " in line:
            continue
        shift = 1 if "snap reserve" in line else 0
        found = tokens(line)
        cols = [m.group() for m in found] + [""] * (20 - len(found))
        if len(found) > 6 + shift:
            cols[5 + shift] = _glued(line, found[5 + shift :])
        if newdf:
            name = cols[0]
        else:
            name = cols[5 + shift]
            name = name if name.startswith("/") else "/" + name
        used = used_kb(cols[2 + shift])
        update = disk_update(ctx, DISK, msg.testname, name, percent(cols[4 + shift]), used)
        if update is not None:
            yield update


def _glued(line: str, found: list[re.Match[str]]) -> str:
    """The columns from the name on as one: the blank that ended each became "_"."""
    base = found[0].start()
    chars = list(line[base : found[-1].end()])
    for m in found[:-1]:
        chars[m.end() - base] = "_"
    return "".join(chars)
