from __future__ import annotations

import pytest

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.parsers.vmstat import LAYOUTS, parse
from rrdd.schema import Update


def run(body: str) -> list[Update]:
    msg = Message("data", 1, 1795312871, "192.0.2.1", "h", "vmstat", "", "", "", "", body)
    return list(parse(msg, Context()))


@pytest.mark.parametrize(
    ("os", "count"),
    [
        ("solaris", 16),
        ("osf", 13),
        ("aix", 19),
        ("irix", 6),
        ("hpux", 16),
        ("freebsd", 19),
        ("netbsd", 20),
        ("openbsd", 19),
        ("linux", 17),
        ("rhel3", 17),
        ("linux22", 17),
        ("sco_sv", 20),
    ],
)
def test_layouts_have_xymons_ds_counts(os: str, count: int) -> None:
    columns, schema = LAYOUTS[os]
    assert len(schema.defs) == len(columns) == count
    assert all(d.endswith(":GAUGE:600:0:U") for d in schema.defs)


def test_unknown_os_is_an_error_naming_it() -> None:
    with pytest.raises(ParseError, match="unknown OS 'plan9'"):
        run("data h.vmstat\nplan9\n 1 2 3\n")


def test_os_without_a_layout_is_an_error() -> None:
    with pytest.raises(ParseError, match="cannot handle vmstat from OS 'darwin'"):
        run("data h.vmstat\ndarwin\n 1 2 3\n")


@pytest.mark.parametrize("body", ["data h.vmstat", "data h.vmstat\nlinux", "status h.vmstat"])
def test_too_few_lines_is_an_error(body: str) -> None:
    with pytest.raises(ParseError, match="too few lines"):
        run(body)


def test_a_number_beyond_a_c_int_is_kept_whole() -> None:
    (update,) = run("data h.vmstat\nlinux\n 1 0 0 4208828416 3 4\n")
    assert update.values[4] == "4208828416"


@pytest.mark.parametrize("column", ["9" * 5000, "1.2" + "3" * 5000])
def test_a_column_too_long_for_a_number_is_a_parse_error(column: str) -> None:
    with pytest.raises(ParseError, match="digits is not a number"):
        run(f"data h.vmstat\nlinux\n 1 0 {column} 3\n")


def test_only_the_line_after_the_os_is_read() -> None:
    (update,) = run("data h.vmstat\nlinux\n 5 6\n 7 8 9 10\n")
    assert update.values[:4] == ("5", "6", "U", "U")
