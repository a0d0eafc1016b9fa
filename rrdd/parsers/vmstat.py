"""vmstat: one line of ``vmstat 300 2`` -> CPU, memory, paging and disk gauges.

Handles: vmstat

Sample body (xymond_client sends only the last line of the client's ``[vmstat]`` section)::

    data web01,example,com.vmstat
    linux
     1  0      0 1234567  23456 3456789    0    0     1    12  234  456  2  1 97  0  0

The second line names the OS, which picks the column layout. The third line is split at
spaces (tabs do not separate); every ``.`` and ``,`` is deleted from a column before it
is read as an integer (``0.12`` -> 12, ``1,234`` -> 1234, ``345M`` -> 345). A column the
line does not have is U. zvm, zvse and zos use the Linux layout; the FreeBSD layout
expects two disk columns. An OS without a layout (darwin, win32 ...) or an unknown OS is
an error and writes nothing.

Writes:
    vmstat.rrd   one GAUGE (min 0) per column of the OS layout, e.g. for linux:
                 cpu_r cpu_b cpu_w mem_swpd mem_free mem_buff mem_cach mem_si mem_so
                 dsk_bi dsk_bo cpu_int cpu_csw cpu_usr cpu_sys cpu_idl cpu_wait
                 (solaris 16 DS, osf 13, aix 19, irix 6, hpux 16, freebsd 19, netbsd 20,
                 openbsd 19, linux/rhel3/linux22 17, sco_sv 20)
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers import register
from rrdd.parsers._common import os_line
from rrdd.parsers._fdlib import space_split
from rrdd.schema import Schema, Update

MAX_COLUMNS = 30  # xymond reads no more columns than this
# int() refuses a number of more digits than this (Python's default limit); a line that
# could hold one goes through int(), which turns it into a ParseError.
INT_MAX_DIGITS = 4300


Columns = tuple[int, ...]


def _layout(spec: str) -> tuple[Columns, Schema]:
    """``column:DS ...`` as xymond's layout tables list them -> the column of each DS (-1:
    never there, always U) and the schema, both in the file's DS order."""
    pairs = [item.split(":") for item in spec.split()]
    names = (f"DS:{name}:GAUGE:600:0:U" for _, name in pairs)
    return tuple(int(col) for col, _ in pairs), Schema.of(*names)


SOLARIS_COLUMNS, SOLARIS = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_swap 4:mem_free 5:mem_re 6:mem_mf 7:mem_pi 8:mem_po "
    "11:sr 16:cpu_int 17:cpu_syc 18:cpu_csw 19:cpu_usr 20:cpu_sys 21:cpu_idl"
)
OSF_COLUMNS, OSF = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 4:mem_free 6:mem_mf 10:mem_pi 11:mem_po 12:cpu_int "
    "13:cpu_syc 14:cpu_csw 15:cpu_usr 16:cpu_sys 17:cpu_idl"
)
# xymond picks "aix" or "aix_power5" by the DS count of an existing vmstat.rrd, but the two
# layouts are the same since 4.3.30, so the existing file does not matter. A file made by
# Hobbit 4.2 (17 DS, no cpu_pc/cpu_ec) cannot take these updates there either.
AIX_COLUMNS, AIX = _layout(
    "0:cpu_r 1:cpu_b 2:mem_avm 3:mem_free 4:mem_re 5:mem_pi 6:mem_po 7:mem_fr 8:sr "
    "9:mem_cy 10:cpu_int 11:cpu_syc 12:cpu_csw 13:cpu_usr 14:cpu_sys 15:cpu_idl "
    "16:cpu_wait 17:cpu_pc 18:cpu_ec"
)
# sar output (the IRIX client sends no vmstat); cpu_csw is there for the vmstat3 graph
IRIX_COLUMNS, IRIX = _layout("1:cpu_usr 2:cpu_sys 3:cpu_int 4:cpu_wait 5:cpu_idl -1:cpu_csw")
HPUX_COLUMNS, HPUX = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_avm 4:mem_free 5:mem_re 6:mem_flt 7:mem_pi 8:mem_po "
    "9:mem_fr 11:sr 12:cpu_int 14:cpu_csw 15:cpu_usr 16:cpu_sys 17:cpu_idl"
)
FREEBSD_COLUMNS, FREEBSD = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_avm 4:mem_free 5:mem_flt 6:mem_re 7:mem_pi 8:mem_po "
    "9:mem_fr 10:sr 11:dsk_da0 12:dsk_pa0 13:cpu_int 14:cpu_syc 15:cpu_csw 16:cpu_usr "
    "17:cpu_sys 18:cpu_idl"
)
NETBSD_COLUMNS, NETBSD = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_avm 4:mem_free 5:mem_flt 6:mem_re 7:mem_pi 8:mem_po "
    "9:mem_fr 10:sr 11:dsk_f0 12:dsk_m0 13:dsk_w0 14:cpu_int 15:cpu_syc 16:cpu_csw "
    "17:cpu_usr 18:cpu_sys 19:cpu_idl"
)
OPENBSD_COLUMNS, OPENBSD = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_avm 4:mem_free 5:mem_flt 6:mem_re 7:mem_pi 8:mem_po "
    "9:mem_fr 10:sr 11:dsk_wd0 12:dsk_cd0 13:cpu_int 14:cpu_syc 15:cpu_csw 16:cpu_usr "
    "17:cpu_sys 18:cpu_idl"
)
LINUX_COLUMNS, LINUX = _layout(
    "0:cpu_r 1:cpu_b -1:cpu_w 2:mem_swpd 3:mem_free 4:mem_buff 5:mem_cach 6:mem_si 7:mem_so "
    "8:dsk_bi 9:dsk_bo 10:cpu_int 11:cpu_csw 12:cpu_usr 13:cpu_sys 14:cpu_idl 15:cpu_wait"
)
# RHEL3's vmstat has the wa and id columns the other way round
RHEL3_COLUMNS, RHEL3 = _layout(
    "0:cpu_r 1:cpu_b -1:cpu_w 2:mem_swpd 3:mem_free 4:mem_buff 5:mem_cach 6:mem_si 7:mem_so "
    "8:dsk_bi 9:dsk_bo 10:cpu_int 11:cpu_csw 12:cpu_usr 13:cpu_sys 14:cpu_wait 15:cpu_idl"
)
LINUX22_COLUMNS, LINUX22 = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_swpd 4:mem_free 5:mem_buff 6:mem_cach 7:mem_si 8:mem_so "
    "9:dsk_bi 10:dsk_bo 11:cpu_int 12:cpu_csw 13:cpu_usr 14:cpu_sys 15:cpu_idl -1:cpu_wait"
)
SCO_SV_COLUMNS, SCO_SV = _layout(
    "0:cpu_r 1:cpu_b 2:cpu_w 3:mem_free 4:mem_dmd 5:mem_swpd 6:mem_cach 7:mem_fil "
    "8:mem_flt 9:mem_frd 10:mem_pos 11:mem_pif 12:mem_pis 13:mem_so 14:mem_si "
    "15:sys_calls 16:cpu_csw 17:cpu_usr 18:cpu_sys 19:cpu_idl"
)

LAYOUTS: dict[str, tuple[Columns, Schema]] = {
    "solaris": (SOLARIS_COLUMNS, SOLARIS),
    "osf": (OSF_COLUMNS, OSF),
    "aix": (AIX_COLUMNS, AIX),
    "irix": (IRIX_COLUMNS, IRIX),
    "hpux": (HPUX_COLUMNS, HPUX),
    "freebsd": (FREEBSD_COLUMNS, FREEBSD),
    "netbsd": (NETBSD_COLUMNS, NETBSD),
    "openbsd": (OPENBSD_COLUMNS, OPENBSD),
    "linux": (LINUX_COLUMNS, LINUX),
    "zvm": (LINUX_COLUMNS, LINUX),
    "zvse": (LINUX_COLUMNS, LINUX),
    "zos": (LINUX_COLUMNS, LINUX),
    "rhel3": (RHEL3_COLUMNS, RHEL3),
    "linux22": (LINUX22_COLUMNS, LINUX22),
    "sco_sv": (SCO_SV_COLUMNS, SCO_SV),
}

# OS -> picks the DS values out of the padded columns in one call (quicker than a map);
# every layout has several columns, so itemgetter always returns a tuple.
PICK = {os: itemgetter(*wanted) for os, (wanted, _) in LAYOUTS.items()}


@register("vmstat", files=("vmstat.rrd",))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    os, osname, dataline = os_line(body, "vmstat")
    end = body.find("\n", dataline)
    columns = space_split(body[dataline : end if end >= 0 else len(body)])[:MAX_COLUMNS]
    layout = LAYOUTS.get(os)
    if layout is None:
        name = osname[:40]
        if os == "unknown":
            raise ParseError(f"vmstat report for an unknown OS {name!r}")
        raise ParseError(f"cannot handle vmstat from OS {name!r}")
    schema = layout[1]
    # U after the last column, so a column the line lacks and the column -1 read U
    numbers = _values(columns) + ["U"] * (MAX_COLUMNS + 1 - len(columns))
    yield Update("vmstat.rrd", schema, PICK[os](numbers))


def _values(columns: list[str]) -> list[str]:
    """Each column read as `_value` reads it."""
    digits = "".join(columns)
    if digits.isdigit() and digits.isascii():  # plain digits: _value in one go
        if len(digits) <= INT_MAX_DIGITS and not _leading_zero(columns):
            return columns  # int() would give each back as it is
        return [_whole(column) for column in columns]
    return [_value(column) for column in columns]


def _leading_zero(columns: list[str]) -> bool:
    """True when a column of digits starts with a 0 that int() would drop ("007")."""
    # With two blanks between the columns and one at each end, every column stands as
    # " column "; once the " 0 " ones are gone, " 0" is left only before more digits.
    framed = " " + "  ".join(columns) + " "
    return " 0" in framed.replace(" 0 ", "")


def _value(column: str) -> str:
    # xymond reads the column with atoi(), which wraps anything beyond a C int (FreeBSD's
    # avm and fre are in bytes); rrdd keeps the whole number.
    column = column.replace(".", "").replace(",", "")
    if column.isdigit() and column.isascii():
        return _whole(column)
    return str(strtoll(column))


def _whole(digits: str) -> str:
    """A column of ASCII digits as the number it is, without leading zeros."""
    try:
        return str(int(digits))
    except ValueError:  # over INT_MAX_DIGITS: no counter has that many
        raise ParseError(f"a column of {len(digits)} digits is not a number") from None
