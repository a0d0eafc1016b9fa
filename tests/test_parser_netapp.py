"""netapp_disk (called by the disk parser, so no golden case reaches it yet) and the
do_fd_lib readers shared by the netapp, dbcheck and beastat parsers."""

from __future__ import annotations

import re

from rrdd.channel import Message
from rrdd.cnum import atof, printf_f
from rrdd.context import Context
from rrdd.parsers import _fdlib
from rrdd.parsers.netapp import netapp_disk


def message(test: str, body: str) -> Message:
    return Message(
        "status", 1, 1795312871, "192.0.2.10", "filer01.example.com", test, "green", "",
        "netapp", "storage", body,
    )  # fmt: skip


def rows(test: str, body: str, ctx: Context | None = None) -> list[tuple[str, str]]:
    updates = list(netapp_disk(message(test, body), ctx or Context()))
    for u in updates:
        assert u.schema.defs == ("DS:pct:GAUGE:600:0:U", "DS:used:GAUGE:600:0:U")
    return [(u.rrd, ":".join(u.values)) for u in updates]


DF = """status filer01,example,com.disk green Sun Nov 22 02:01:11 UTC 2026 - Filesystems ok
Filesystem              total       used      avail capacity  Mounted on
/vol/vol0/             47185920    2345678   44840242       5%  /vol/vol0/
/vol/vol0/.snapshot    11796480     123456   11673024       1%  /vol/vol0/.snapshot
&yellow /vol/vol_data/ is 92% full
/vol/vol_data/        104857600   96468992    8388608      92%  /vol/vol_data/
/vol/vol_old/         104857600   96468992    8388608  yellow   /vol/vol_old/ yellow row
netapp.pl version 1.15"""


def test_df_rows_keep_the_mount_and_skip_alerts() -> None:
    assert rows("disk", DF) == [
        ("disk,vol,vol0,.rrd", "5:2345678"),
        ("disk,vol,vol0,.snapshot.rrd", "1:123456"),
        ("disk,vol,vol_data,.rrd", "92:96468992"),
    ]


def test_first_line_is_never_a_row() -> None:
    body = "status/group:fs filer01,example,com.disk green 1 2 3 4% /group\n"
    assert rows("disk", body) == []


def test_snap_reserve_row_has_one_column_more_and_sizes_scale_to_kb() -> None:
    body = (
        "status filer01,example,com.snapshot green Sun Nov 22 02:01:11 UTC 2026 Snapshots\n"
        "Volume              total      used     avail  capacity  Mounted on\n"
        "/vol/vol0/         9830MB     120MB    9710MB       1%   /vol/vol0/.snapshot\n"
        "snap reserve       9830MB    1.5GB     8294MB      16%   /vol/vol1/.snapshot\n"
        "/vol/vol2/         2TB        1TB      1TB         50%   /vol/vol2/.snapshot\n"
        "netapp.pl"
    )
    assert rows("snapshot", body) == [
        ("snapshot,vol,vol0,.snapshot.rrd", "1:122880"),
        ("snapshot,vol,vol1,.snapshot.rrd", "16:1048576"),  # 1.5GB reads as 1 GB
        ("snapshot,vol,vol2,.snapshot.rrd", "50:1073741824"),
    ]


def test_name_with_blanks_is_glued_and_filters_see_it_before_conversion() -> None:
    body = (
        "status filer01,example,com.qtree green Sun Nov 22 02:01:11 UTC 2026 netapp.pl\n"
        "/vol/vol_home  -  12G  -  40%  /vol/vol_home/My  Projects 2024\n"
        "/vol/vol_home  -  1G   -  4%   /vol/vol_home/tmp\n"
    )
    # The blank that ended each word became "_"; the others stay blanks until the file name.
    assert rows("qtree", body) == [
        ("qtree,vol,vol_home,My__Projects_2024.rrd", "40:12582912"),
        ("qtree,vol,vol_home,tmp.rrd", "4:1048576"),
    ]
    ctx = Context(norrddisks=re.compile(r"my_ projects_", re.IGNORECASE))
    assert rows("qtree", body, ctx) == [("qtree,vol,vol_home,tmp.rrd", "4:1048576")]
    ctx = Context(rrddisks=re.compile(r"^/VOL/vol_home/t", re.IGNORECASE))
    assert rows("qtree", body, ctx) == [("qtree,vol,vol_home,tmp.rrd", "4:1048576")]


def test_name_without_slash_gets_one_and_short_rows_become_root() -> None:
    body = (
        "status filer01,example,com.quotas green Sun Nov 22 02:01:11 UTC 2026 netapp.pl\n"
        "vol_home  512000  430080  81920  84%  users/alice\n"
        "/vol/x 100\n"
        "vol_home  512000  430080  81920  -1%  users/bob\n"
    )
    assert rows("quotas", body) == [
        ("quotas,users,alice.rrd", "84:430080"),
        ("quotas,root.rrd", "0:0"),  # xymond's reading of a row without a name column
    ]


def test_netappnewdf_takes_the_name_from_the_first_column() -> None:
    body = (
        "status filer01,example,com.disk green Sun Nov 22 02:01:11 UTC 2026 netappnewdf\n"
        "/vol/data/   1000   500   500   50%   filer01:/vol/data\n"
        "netapp.pl version 1.15"
    )
    assert rows("disk", body) == [("disk,vol,data,.rrd", "50:500")]
    assert rows("disk", body.replace("netappnewdf", "df")) == [
        ("disk,filer01:,vol,data.rrd", "50:500")
    ]


def test_value_lookup_is_the_first_substring_on_its_line() -> None:
    text = "x\nsessions_using_security_signatures: 5\nsessions: 42\nlocks = 7 : 8\nbad 9"
    assert _fdlib.get_long(text, "sessions") == "5"
    assert _fdlib.get_long(text, "locks") == "8"  # the first ":" wins over an earlier "="
    assert _fdlib.get_long(text, "bad") == "0"
    assert _fdlib.get_long(text, "absent") == "0"
    assert _fdlib.get_kb("NET_read: 1.9 GB/s", "NET_read") == "1048576"
    assert _fdlib.get_kb("NET_read:\t2M", "NET_read") == "2"  # a tab ends the unit search
    assert _fdlib.get_kb("NET_read: -1 M", "NET_read") == "-1"
    assert _fdlib.get_double("a= 1.5e2x", "a") == 150.0


def test_c_number_forms() -> None:
    assert printf_f(7.005, "%05.2f") == "07.00"
    assert printf_f(float("inf"), "%05.2f") == "  inf"
    assert printf_f(float("-nan"), "%f") == "-nan"
    assert atof("  .5") == 0.5
    assert atof("nan") != atof("nan")
    assert _fdlib.used_kb("9007199254740993") == 9007199254740992  # through a double
    assert _fdlib.used_kb("9223372036854775807") == -(2**63)
    assert _fdlib.used_kb("3.9T") == 3 * 1024**3
    assert _fdlib.strtok("=a==b:c::d", "=", ":") == ["a", "=b", "c", "d"]
    assert _fdlib.strtok("", "=", ":") == []
