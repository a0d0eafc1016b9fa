"""snmpmibs.cfg: the MIB collections of xymon-snmpcollect, read for their RRD data items.

The file (``$XYMONHOME/etc/snmpmibs.cfg``) holds one ``[mibname]`` section per MIB::

    [hrstorage]
        keyidx (HOST-RESOURCES-MIB::hrStorageDescr)
        Description = HOST-RESOURCES-MIB::hrStorageDescr
        Size = HOST-RESOURCES-MIB::hrStorageSize      /rrd:GAUGE
        Used = HOST-RESOURCES-MIB::hrStorageUsed      /rrd:GAUGE

A data line is ``name = OID`` (or ``name OID``) followed by options: ``/u32`` (the
collector's signed -> unsigned conversion) and ``/rrd:TYPE`` with TYPE GAUGE, COUNTER,
DERIVE or ABSOLUTE (any case); only such items are stored in RRD files. Lines starting
with ``mibfile``, ``extra`` (a new OID set), ``table``, ``keyidx`` or ``validx`` are
keywords, matched as prefixes as Xymon's readmibs() does (so a data item named
``tableSize`` is the ``table`` keyword there too); the last three make the MIB tabular.
Comments are whole lines starting with ``#``; ``include``, ``directory`` and ``optional``
pull in more files. MIB names are caseless and the first section of a name wins.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from rrdd.errors import ConfigError
from rrdd.schema import Schema
from rrdd.xymoncfg import numbered_lines

log = logging.getLogger("rrdd.config")

# rrd type -> the DS minimum xymond gives it; every DS has heartbeat 600 and no maximum.
RRD_TYPES = {"GAUGE": "U", "ABSOLUTE": "U", "COUNTER": "0", "DERIVE": "0"}
KEYWORDS = ("mibfile", "extra", "table", "keyidx", "validx")  # in readmibs()' order
TABULAR = ("table", "keyidx", "validx")
_TOKEN = re.compile(r"[^ \t]+")


@dataclass(frozen=True, slots=True)
class MibItem:
    """One data item of a MIB: ``name = OID``, with its rrd type or None (not stored)."""

    name: str
    oid: str
    rrdtype: str | None = None


@dataclass(frozen=True, slots=True)
class Mib:
    """A ``[mibname]`` section: its items in file order and the DS of the stored ones."""

    name: str
    tabular: bool
    items: tuple[MibItem, ...]
    schema: Schema = field(init=False)  # the items with an rrd type, in order

    def __post_init__(self) -> None:
        defs = tuple(
            f"DS:{i.name}:{i.rrdtype}:600:{RRD_TYPES[i.rrdtype]}:U" for i in self.items if i.rrdtype
        )
        object.__setattr__(self, "schema", Schema(defs))


def load_mibs(path: Path | None) -> dict[str, Mib]:
    """The MIBs of a snmpmibs.cfg, keyed by lowercased name; None gives no MIBs.

    Raises ConfigError (with file and line) when the file cannot be read, a line sits
    outside any section, a section header has no ``]`` or name, or a data line has no OID.
    """
    if path is None:
        return {}
    mibs: dict[str, Mib] = {}
    name: str | None = None
    tabular = False
    items: list[MibItem] = []

    def close() -> None:
        if name is None:
            return
        if name.lower() in mibs:
            log.warning("%s: MIB [%s] is defined twice; the first definition is used", path, name)
            return
        mibs[name.lower()] = Mib(name, tabular, tuple(items))

    for where, line in numbered_lines(path, inline_comments=False):
        if line.startswith("["):
            close()
            name, bracket, _ = line[1:].partition("]")
            if not bracket or not name:
                raise ConfigError(f"{where}: bad MIB section header {line!r}")
            tabular, items = False, []
            continue
        if name is None:
            raise ConfigError(f"{where}: {line!r} is outside any [mib] section")
        keyword = next((k for k in KEYWORDS if line.startswith(k)), None)
        if keyword is not None:
            tabular = tabular or keyword in TABULAR
            continue
        items.append(_item(line, where))
    close()
    return mibs


def _item(line: str, where: str) -> MibItem:
    """``name = OID [/u32] [/rrd:TYPE]`` split on blanks as readmibs() does with strtok."""
    tokens = _TOKEN.findall(line)
    rest = tokens[1:]
    if rest and rest[0].startswith("="):
        rest = rest[1:]  # xymond skips the "=" token even when the OID is glued to it
    if not rest:
        raise ConfigError(f"{where}: {line!r} has no OID")
    rrdtype = None
    for option in rest[1:]:
        if option[:5].lower() == "/rrd:":
            kind = option[5:].upper()
            if kind in RRD_TYPES:
                rrdtype = kind
            else:
                # xymond ignores an unknown type without a word. Only at debug level here:
                # the stock file's two /rrd:COUNTER32 items would make two lines at every
                # start and reload of each rrdd.
                log.debug("%s: %s: unknown %r, the item is not stored", where, tokens[0], option)
    return MibItem(tokens[0], rest[0], rrdtype)
