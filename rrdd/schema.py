"""The contract between parsers and writers, and Xymon's RRD file naming.

A parser returns `Update`s: which file (relative to the host's directory), its data
sources as Xymon's exact ``DS:`` strings, and the values as the strings rrdtool will
receive. The writer adds the host, the timestamp and the RRA definitions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

STEP = 300  # Xymon's default RRD step, in seconds
NAME_MAX = 255  # longest file name (one path component, in bytes) rrdd writes
PATH_MAX = 4095  # longest full path rrdd writes, in bytes


@dataclass(frozen=True, slots=True)
class Schema:
    """The DS definitions of one kind of RRD file, e.g. ``DS:la:GAUGE:600:U:U``."""

    defs: tuple[str, ...]
    names: tuple[str, ...] = field(init=False)
    template: str = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(d.split(":", 2)[1] if d.count(":") >= 2 else "" for d in self.defs)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "template", ":".join(names))

    @classmethod
    def of(cls, *defs: str) -> Schema:
        return cls(tuple(defs))


class Update(NamedTuple):
    """One value row for one RRD file, as a parser produced it (a tuple: cheap to make)."""

    rrd: str  # file name inside <rrddir>/<host>/, e.g. "disk,root.rrd"
    schema: Schema
    values: tuple[str, ...]  # one string per DS; "U" for unknown
    step: int = STEP
    track_max: bool = False  # created with a MAX RRA beside each AVERAGE one (TRACKMAX)
    params: tuple[str, ...] = ()  # the parts of the file name, for --processor lines

    def processor_line(self, host: str, timestamp: int) -> str:
        """xymond_rrd's --processor line: template, values, host, the file name's parts."""
        parts = self.params or (self.rrd.removesuffix(".rrd"),)
        return " ".join((self.schema.template, self.row(timestamp), host, *parts))

    def row(self, timestamp: int) -> str:
        """The update argument rrdtool receives: ``<ts>:<v1>:<v2>...``."""
        return ":".join((str(timestamp), *self.values))


def rrdname(name: str) -> str:
    """Xymon's setupfn(): every space in a file name becomes an underscore."""
    return name.replace(" ", "_")


def commas(part: str) -> str:
    """Xymon's setupfn2() second parameter: every slash becomes a comma."""
    return part.replace("/", ",")


def unsafe_name(name: str) -> str | None:
    """Why `name` cannot be one path component below the RRD directory, or None if it can.

    Host names and RRD file names come from the network; this is the one check that
    keeps them inside rrddir.
    """
    if name in ("", ".", ".."):
        return f"the name {name!r} is not allowed"
    if "/" in name or "\0" in name:
        return f"the name {name[:80]!r} contains '/' or NUL"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return f"the name {name[:80]!r} is not valid UTF-8"
    if size > NAME_MAX:
        return f"the name is {size} bytes long (at most {NAME_MAX})"
    return None


def unsafe_path(path: str) -> str | None:
    """Why a full path is too long for the file system, or None."""
    size = len(os.fsencode(path))
    return f"the path is {size} bytes long (at most {PATH_MAX})" if size > PATH_MAX else None


def unsafe_host(name: str) -> str | None:
    """Why `name` cannot be a host's directory, or None if it can: `unsafe_name`'s
    reasons, and a leading ".", which no Xymon host name has: rrdd keeps its own
    entries in the RRD directory under such names (.renamed/, see writer/marks.py)."""
    reason = unsafe_name(name)
    if reason is None and name.startswith("."):
        reason = f"the host name {name[:80]!r} starts with '.'"
    return reason


def unfit_for_librrd(text: str) -> str | None:
    """Why `text` must not be given to librrd (a path, a create argument, an update row),
    or None. The writer asks this of every string before it creates or updates a file.

    Measured with the rrdtool binding 0.1.16 on librrd 1.7.2:

    * A string without a UTF-8 form, one holding a surrogate (what the bytes of input
      that is not UTF-8 become), kills the process: the binding passes librrd a NULL
      pointer in its place (it does not check PyUnicode_AsUTF8) and librrd reads it
      (SIGSEGV). This is the only crash found: 54,000 creates with arguments mutated
      with any other character, control ones included, and 30,000 updates with mutated
      rows got librrd's errors.
    * A NUL ends the string for librrd, which goes on with what came before it:
      ``a\\0.rrd`` creates ``a``, the row ``N:1\\0junk`` stores 1.
    * A newline would end an argument early for rrdcached, which reads a command per
      line; the cache keeps a file's rows one per line as well.

    Any other character librrd takes, or refuses with an error the writer logs.
    """
    if text.isprintable():  # the usual case, and quick: none of the three is printable
        return None
    if "\0" in text:
        return f"{text[:80]!r} holds a NUL"
    if "\n" in text:
        return f"{text[:80]!r} holds a newline"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{text[:80]!r} holds bytes that are not UTF-8"
    return None
