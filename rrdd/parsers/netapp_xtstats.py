"""netapp_xtstats: NetApp per-object counters from hobbit-perl-client's netapp.pl.

Handles: xtstats

Sample body::

    status filer01,example,com.xtstats green Sun Nov 22 02:01:11 UTC 2026 Extra statistics
    [ifnet]
    e0a;recv_packets:18234;recv_errors:0;send_packets:17002;send_errors:0;collisions:0
    [volume]
    vol0;avg_latency:2.31;total_ops:412;read_data:1843;read_ops:120;write_ops:260
    [lun]
    /vol/lun1/db.lun;read_ops:33;write_ops:12;avg_latency:1.2
    netapp.pl version 1.15

The body is cut into ``[section]`` blocks (a later block of the same name replaces an
earlier one). In the sections ifnet, qtree, aggregate, volume, lun and disk, each line
``name;key:value;key:value...`` gives one file; a key names the first counter of the
section that begins with it, values are written as sent and a counter not in the line is
U. All DS are GAUGE; a "/" in a name becomes ",". Empty lines and lines containing
``netapp.pl`` are skipped. Unlike the other netapp.pl handlers, xymond does not require
``netapp.pl`` in this body.

Writes:
    xstatifnet,<if>.rrd        recv_packets recv_errors send_packets send_errors collisions
                               recv_data send_data recv_mcasts send_mcasts recv_drop_packets
    xstatqtree,<qtree>.rrd     nfs_ops cifs_ops
    xstataggregate,<aggr>.rrd  total_transfers user_reads user_writes cp_reads
                               user_read_blocks user_write_blocks cp_read_blocks
    xstatvolume,<vol>.rrd      avg_latency total_ops read_data read_latency read_ops
                               write_data write_latency write_ops other_latency other_ops
    xstatlun,<lun>.rrd         read_ops write_ops other_ops read_data write_data queue_full
                               avg_latency total_ops
    xstatdisk,<disk>.rrd       total_transfers user_read_chain user_reads user_write_chain
                               user_writes cp_read_chain cp_reads gar_read_chain gar_reads
                               gar_write_chain gar_writes user_read_latency user_read_blocks
                               user_write_latency user_write_blocks cp_read_latency
                               cp_read_blocks gar_read_latency gar_read_blocks
                               gar_write_latency gar_write_blocks disk_busy
"""

from __future__ import annotations

from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.parsers._fdlib import strtok
from rrdd.schema import Schema, Update, commas, rrdname

_DISK_DS = (
    "total_transfers", "user_read_chain", "user_reads", "user_write_chain", "user_writes",
    "cp_read_chain", "cp_reads", "gar_read_chain", "gar_reads", "gar_write_chain", "gar_writes",
    "user_read_latency", "user_read_blocks", "user_write_latency", "user_write_blocks",
    "cp_read_latency", "cp_read_blocks", "gar_read_latency", "gar_read_blocks",
    "gar_write_latency", "gar_write_blocks", "disk_busy",
)  # fmt: skip
# xymond's names of the disk counters: its misspellings decide which keys match, so they stay.
_DISK_KEYS = (
    "total_transfers", "user_read_chain", "user_reads", "user_write_chain", "user_writes",
    "cp_read_chain", "cp_reads", "guarenteed_read_chain", "guaranteed_reads",
    "guarenteed_write_chain", "guaranteed_writes", "user_read_latency", "user_read_blocks",
    "user_write_latency", "user_write_blocks", "cp_read_latency", "cp_read_blocks",
    "guarenteed_read_latency", "guarenteed_read_blocks", "guarenteed_write_latency",
    "guarenteed_write_blocks", "disk_busy",
)  # fmt: skip
_IFNET = (
    "recv_packets", "recv_errors", "send_packets", "send_errors", "collisions", "recv_data",
    "send_data", "recv_mcasts", "send_mcasts", "recv_drop_packets",
)  # fmt: skip
_AGGREGATE = (
    "total_transfers", "user_reads", "user_writes", "cp_reads", "user_read_blocks",
    "user_write_blocks", "cp_read_blocks",
)  # fmt: skip
_VOLUME = (
    "avg_latency", "total_ops", "read_data", "read_latency", "read_ops", "write_data",
    "write_latency", "write_ops", "other_latency", "other_ops",
)  # fmt: skip
_LUN = (
    "read_ops", "write_ops", "other_ops", "read_data", "write_data", "queue_full",
    "avg_latency", "total_ops",
)  # fmt: skip


def _gauges(names: tuple[str, ...]) -> Schema:
    return Schema.of(*(f"DS:{n}:GAUGE:600:0:U" for n in names))


IFNET = _gauges(_IFNET)
QTREE = _gauges(("nfs_ops", "cifs_ops"))
AGGREGATE = _gauges(_AGGREGATE)
VOLUME = _gauges(_VOLUME)
LUN = _gauges(_LUN)
DISK = _gauges(_DISK_DS)
# section -> (schema, the counter names the lines use, in DS order), in xymond's order
SECTIONS = {
    "ifnet": (IFNET, _IFNET),
    "qtree": (QTREE, QTREE.names),
    "aggregate": (AGGREGATE, _AGGREGATE),
    "volume": (VOLUME, _VOLUME),
    "lun": (LUN, _LUN),
    "disk": (DISK, _DISK_KEYS),
}


@register("xtstats", files=tuple(f"xstat{s},*.rrd" for s in SECTIONS))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    sections = _sections(msg.body)
    for name, (schema, keys) in SECTIONS.items():
        for line in sections.get(name, "").split("\n"):
            if not line or "netapp.pl" in line:
                continue
            fields = strtok(line, ";", ";")
            if not fields:
                continue  # only semicolons: xymond crashes on this line
            values = ["U"] * len(keys)
            for field in fields[1:]:
                key, colon, value = field.partition(":")
                if colon:
                    i = next((i for i, k in enumerate(keys) if k.startswith(key)), None)
                    if i is not None:
                        values[i] = value
            yield Update(rrdname(f"xstat{name},{commas(fields[0])}.rrd"), schema, tuple(values))


def _sections(body: str) -> dict[str, str]:
    """``[name]`` blocks (xymond's splitmsg): each runs to the next line starting with '['."""
    parts = body.split("\n[")
    if body.startswith("["):
        parts[0] = parts[0][1:]
    else:
        parts.pop(0)
    found = {}
    for part in parts:
        end = min((p for p in (part.find("]"), part.find("\n")) if p >= 0), default=len(part))
        # A name without "]" at the very end: xymond reads past its buffer; no data here.
        data = part[end + 1 :]
        found[part[:end]] = data[1:] if data.startswith("\n") else data
    return found
