"""sendmail: the layout depends on the file a host already has.

Sendmail before 8.13 had no msgsqur column, and xymond made such hosts' files with 6 DS.
When a file of the host has exactly 6 DS, xymond keeps that layout and drops the last
value; any other file (or none) gets the 7-DS layout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rrdtool

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.events import Counts
from rrdd.parsers.sendmail import OLD_SCHEMA, SCHEMA, parse
from rrdd.schema import Schema
from rrdd.writer.rrdwriter import RrdWriter
from rrdd.xymoncfg import RraDefinitions

NOW = 1795312800
HEADER = " M   msgsfr  bytes_from   msgsto    bytes_to  msgsrej msgsdis msgsqur  Mailer\n"


def mailstats(*rows: str) -> Message:
    body = (
        "status mx1,example,com.sendmail green Sun Nov 22 02:00:00 UTC 2026\n"
        "Statistics from Sun Nov 22 00:00:00 2026\n" + HEADER + "".join(rows) + "=" * 40 + "\n"
    )
    return Message(
        "status", 1, NOW + 71, "", "mx1.example.com", "sendmail", "green", "", "", "", body
    )


ROW8 = " 3      100       1000K        7         70K        1       2       3  local\n"
ROW7 = " 3      100       1000K        7         70K        1       2  local\n"
ROW5 = " 3      100       1000K        7         70K  local\n"


class Files:
    """A writer's existing_ds(): the DS names of the host's files; records what is asked."""

    def __init__(self, layouts: dict[str, tuple[str, ...]]):
        self.layouts = layouts
        self.asked: list[tuple[str, str]] = []

    def __call__(self, host: str, rrd: str) -> tuple[str, ...] | None:
        self.asked.append((host, rrd))
        return self.layouts.get(rrd)


@pytest.mark.parametrize(
    ("row", "values"),
    [
        (ROW8, ("100", "1024000", "7", "71680", "1", "2")),
        (ROW7, ("100", "1024000", "7", "71680", "1", "2")),
        (ROW5, ("100", "1024000", "7", "71680", "U", "U")),
    ],
)
def test_an_old_six_ds_file_keeps_its_layout(row: str, values: tuple[str, ...]) -> None:
    existing = Files({"sendmail.local.rrd": OLD_SCHEMA.names})
    [update] = parse(mailstats(row), Context(existing_ds=existing))
    assert update.rrd == "sendmail.local.rrd"
    assert update.schema == OLD_SCHEMA and update.values == values
    assert existing.asked == [("mx1.example.com", "sendmail.local.rrd")]


@pytest.mark.parametrize("existing", [None, SCHEMA.names, ("msgsfr", "bytes_from", "msgsto")])
def test_other_files_get_the_seven_ds_layout(existing: tuple[str, ...] | None) -> None:
    layouts = {"sendmail.local.rrd": existing} if existing else {}
    [update] = parse(mailstats(ROW8), Context(existing_ds=Files(layouts)))
    assert update.schema == SCHEMA
    assert update.values == ("100", "1024000", "7", "71680", "1", "2", "3")


def test_the_layout_is_chosen_per_mailer_file() -> None:
    esmtp = ROW8.replace("local", "esmtp")
    ctx = Context(existing_ds=Files({"sendmail.esmtp.rrd": OLD_SCHEMA.names}))
    local, remote = parse(mailstats(ROW8, esmtp), ctx)
    assert (local.rrd, local.schema) == ("sendmail.local.rrd", SCHEMA)
    assert (remote.rrd, remote.schema) == ("sendmail.esmtp.rrd", OLD_SCHEMA)


def test_a_real_old_file_is_updated_in_its_own_layout(tmp_path: Path) -> None:
    host = tmp_path / "mx1.example.com"
    host.mkdir()
    path = host / "sendmail.local.rrd"
    rrdtool.create(
        str(path), "-b", str(NOW - 600), "-s", "300", *OLD_SCHEMA.defs, "RRA:LAST:0.5:1:10"
    )
    writer = RrdWriter(tmp_path, RraDefinitions.load(None), Counts(), clock=lambda: NOW)
    msg = mailstats(ROW8)
    for update in parse(msg, Context(existing_ds=writer.existing_ds)):
        writer.write(msg.hostname, msg.testname, msg.timestamp, update)
    writer.close()
    ds = rrdtool.lastupdate(str(path))["ds"]
    assert list(ds) == list(OLD_SCHEMA.names)
    assert ds["msgsfr"] == 100 and ds["msgsdis"] == 2


def test_schemas_are_xymons() -> None:
    assert isinstance(SCHEMA, Schema) and len(SCHEMA.defs) == 7
    assert SCHEMA.defs[:6] == OLD_SCHEMA.defs and SCHEMA.defs[6] == "DS:msgsqur:DERIVE:600:0:U"
