"""dbcheck_tablespace: called by the disk parser for TblSpace, so no golden case reaches it yet."""

from __future__ import annotations

import re

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers.dbcheck import dbcheck_tablespace

HEAD = "status orasrv01,example,com.TblSpace green Sun Nov 22 02:01:11 UTC 2026 - TableSpaces OK\n"
HEADER = "TableSpace/DBSpace          Size        Used        Free   Pct\n"


def rows(body: str, ctx: Context | None = None, test: str = "TblSpace") -> list[tuple[str, str]]:
    msg = Message(
        "status", 1, 1795312871, "192.0.2.10", "orasrv01.example.com", test, "green", "",
        "oracle", "databases", body,
    )  # fmt: skip
    updates = list(dbcheck_tablespace(msg, ctx or Context()))
    for u in updates:
        assert u.schema.defs == ("DS:pct:GAUGE:600:0:U", "DS:used:GAUGE:600:0:U")
    return [(u.rrd, ":".join(u.values)) for u in updates]


def test_rows_between_header_and_footer() -> None:
    body = (
        HEAD
        + "&yellow USERS is 92% used (warning at 90%)\n"
        + HEADER
        + "SYSTEM                    700.00M     512.25M     187.75M   73%\n"
        + "SYSAUX                    600.00M     421.50M     178.50M   70%\n"
        + "USERS                       5.00G       4.61G     400.00M   92%\n"
        + "UNDO red                    1.00G       0.99G       0.01G   99%\n"
        + "\n"
        + "dbcheck.pl version 1.15"
    )
    assert rows(body) == [
        ("TblSpace,SYSTEM.rrd", "73:524288"),
        ("TblSpace,SYSAUX.rrd", "70:431104"),
        ("TblSpace,USERS.rrd", "92:4194304"),
    ]


def test_the_row_just_above_the_footer_is_not_read() -> None:
    # xymond stops one line early when the footer follows a row directly.
    body = HEAD + HEADER + "SYSTEM 700M 512M 188M 73%\nTEMP 100M 10M 90M 10%\ndbcheck.pl 1.15\n"
    assert rows(body) == [("TblSpace,SYSTEM.rrd", "73:524288")]


def test_a_last_row_without_footer_or_newline_is_read() -> None:
    # xymond crashes here; rrdd reads the row (but not a blank last line).
    body = HEAD + HEADER + "SYSTEM 700M 512M 188M 73%\nTEMP 100M 10M 90M 10%"
    assert rows(body) == [("TblSpace,SYSTEM.rrd", "73:524288"), ("TblSpace,TEMP.rrd", "10:10240")]
    assert rows(body + "\n") == rows(body)


def test_odd_rows_read_as_xymond_reads_them() -> None:
    body = (
        HEAD + HEADER + "\n"  # an empty row: xymond writes ",root" with zeros
        "DATA/IDX 1T 0.5T 0.5T 50%\n"
        "BROKEN 1M 1M 0M -1%\n"
        "BIG 1 9223372036854775807 1 1%\n"
        "\n"
        "dbcheck.pl"
    )
    assert rows(body) == [
        ("TblSpace,root.rrd", "0:0"),
        ("TblSpace,DATA,IDX.rrd", "50:0"),
        ("TblSpace,BIG.rrd", f"1:{-(2**63)}"),
    ]


def test_filters_see_the_name_with_its_slash() -> None:
    body = HEAD + HEADER + "SYSTEM 700M 512M 188M 73%\nUSERS 5G 4G 1G 80%\n\ndbcheck.pl"
    ctx = Context(norrddisks=re.compile("^/sys", re.IGNORECASE))
    assert rows(body, ctx) == [("TblSpace,USERS.rrd", "80:4194304")]
    ctx = Context(rrddisks=re.compile("^/sys", re.IGNORECASE))
    assert rows(body, ctx, test="dbspace") == [("dbspace,SYSTEM.rrd", "73:524288")]


def test_no_header_no_rows() -> None:
    assert rows(HEAD + "SYSTEM 700M 512M 188M 73%\n\ndbcheck.pl") == []
    assert rows("TableSpace/DBSpace\nSYSTEM 700M 512M 188M 73%\n\ndbcheck.pl") == []
    assert rows(HEAD + "TableSpace/DBSpace") == []
