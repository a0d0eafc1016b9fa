"""snmpmib with a snmpmibs.cfg, and the snmpmibs.cfg reader.

The golden runner builds its Context without MIBs, so the MIB cases live here:
tests/data/snmpmib/<case>.msgs (channel messages; not *.msg, which the golden runner
would pick up) -> <case>.expected.json, read with tests/data/snmpmib/snmpmibs.cfg.
`pytest --update-golden` rewrites the expected files, as for the golden cases.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rrdd.channel import ChannelParser, Message
from rrdd.context import Context
from rrdd.dispatch import Dispatcher, Routes
from rrdd.errors import ConfigError
from rrdd.events import Counts, Event
from rrdd.parsers import load_builtins
from rrdd.parsers.snmpmib import parse
from rrdd.settings import DEFAULT_TEST2RRD
from rrdd.snmpmibs import Mib, MibItem, load_mibs
from rrdd.writer.memory import MemoryWriter

DATA = Path(__file__).parent / "data" / "snmpmib"
CFG = DATA / "snmpmibs.cfg"
CASES = sorted(DATA.glob("*.msgs"))


def replay(data: bytes, test2rrd: str = DEFAULT_TEST2RRD) -> list[dict[str, object]]:
    counts = Counts()
    writer = MemoryWriter()
    ctx = Context(mibs=load_mibs(CFG))
    dispatcher = Dispatcher(Routes(test2rrd), load_builtins(), ctx, writer, counts)
    for item in ChannelParser(counts=counts).feed(data):
        assert isinstance(item, Message)
        dispatcher.handle(item)
    assert not counts[Event.GARBAGE]
    assert not counts[Event.PARSE_ERRORS]
    return writer.records


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_case(case: Path, request: pytest.FixtureRequest) -> None:
    got = replay(case.read_bytes())
    expected = case.with_suffix(".expected.json")
    if request.config.getoption("--update-golden"):
        expected.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(expected.read_text())


def message(test: str, body: str) -> Message:
    return Message("data", 1, 1795312871, "192.0.2.1", "h1.example.com", test, "", "", "", "", body)


def test_a_test2rrd_alias_finds_no_mib() -> None:
    # xymond routes "myhr" to the MIB handler through the alias, which then looks the
    # MIB up under the test name "myhr" and finds nothing.
    data = (DATA / "hrsystem.msgs").read_bytes().replace(b"|hrsystem|", b"|myhr|")
    assert replay(data, DEFAULT_TEST2RRD + ",myhr=hrsystem") == []


def test_mib_names_are_caseless_and_the_file_keeps_the_test_name() -> None:
    ctx = Context(mibs=load_mibs(CFG))
    body = "data h1,example,com.HRsystem\nNumUsers = 1\nNumProcesses = 2\nMemorySize = 3\n"
    (update,) = parse(message("HRsystem", body), ctx)
    assert update.rrd == "HRsystem.rrd"
    assert update.values == ("1", "2", "3")


def test_a_block_on_the_first_data_line_is_read() -> None:
    ctx = Context(mibs=load_mibs(CFG))
    body = "data h1,example,com.hrstorage\n[/]\nUnits = 4096\nSize = 10\nUsed = 5\n[/tmp]\n"
    body += (
        "Interval=60\nUnits = 4096\nSize = 20\nUsed = 1\n[/srv]\nUnits = 512\nSize = 9\nUsed = 9"
    )
    updates = list(parse(message("hrstorage", body), ctx))
    assert [(u.rrd, u.values, u.step) for u in updates] == [
        ("hrstorage.,.rrd", ("4096", "10", "5"), 300),
        ("hrstorage.,tmp.rrd", ("4096", "20", "1"), 60),
        ("hrstorage.,srv.rrd", ("512", "9", "9"), 60),  # Interval= carries on, as in xymond
    ]


def test_values_that_are_not_numbers_are_unknown() -> None:
    ctx = Context(mibs=load_mibs(CFG))
    body = "data h1,example,com.hrsystem\nNumUsers = 12abc\nNumProcesses = 1:2\nMemorySize = -5\n"
    (update,) = parse(message("hrsystem", body), ctx)
    assert update.values == ("U", "U", "U")


def test_no_mibs_means_nothing_is_written() -> None:
    body = "data h1,example,com.hrsystem\nNumUsers = 1\nNumProcesses = 2\nMemorySize = 3\n"
    assert list(parse(message("hrsystem", body), Context())) == []


# --- load_mibs ----------------------------------------------------------------------------


def test_stock_sections() -> None:
    mibs = load_mibs(CFG)
    hrsystem, hrstorage = mibs["hrsystem"], mibs["hrstorage"]
    assert not hrsystem.tabular and hrstorage.tabular
    assert [i.name for i in hrsystem.items] == [
        "Uptime",
        "CurrentTime",
        "NumUsers",
        "NumProcesses",
        "MaxProcesses",
        "MemorySize",
    ]
    assert hrsystem.items[2] == MibItem(
        "NumUsers", "HOST-RESOURCES-MIB::hrSystemNumUsers.0", "GAUGE"
    )
    assert hrsystem.items[0].rrdtype is None
    assert hrsystem.schema.defs == (
        "DS:NumUsers:GAUGE:600:U:U",
        "DS:NumProcesses:GAUGE:600:U:U",
        "DS:MemorySize:GAUGE:600:U:U",
    )
    assert hrstorage.schema.template == "Units:Size:Used"
    assert [i.oid for i in hrstorage.items][:2] == [
        "HOST-RESOURCES-MIB::hrStorageType",
        "HOST-RESOURCES-MIB::hrStorageDescr",
    ]


def test_the_stock_files_counter32_items_are_no_news(caplog: pytest.LogCaptureFixture) -> None:
    """Xymon's own snmpmibs.cfg has two /rrd:COUNTER32 items: logged at debug level only,
    or each rrdd would say two lines at every start and reload."""
    caplog.set_level(logging.DEBUG, logger="rrdd")
    load_mibs(CFG)
    unknown = [r for r in caplog.records if "COUNTER32" in r.getMessage()]
    assert unknown and {r.levelno for r in unknown} == {logging.DEBUG}


def test_types_options_and_keywords() -> None:
    mibs = load_mibs(CFG)
    assert mibs["snmpmib"].schema.defs == (
        "DS:InPkts:COUNTER:600:0:U",
        "DS:OutPkts:COUNTER:600:0:U",
        "DS:InBadVersions:DERIVE:600:0:U",
        "DS:InBadCommunityNames:ABSOLUTE:600:U:U",
    )
    ipstats = mibs["ipstats"]
    assert ipstats.tabular and [i.name for i in ipstats.items][-1] == "ipRefreshRate"
    bea = mibs["beajvm"]
    # "/rrd:gauge" is caseless; "/rrd:COUNTER32" is no type, so the item is not stored;
    # "name OID" without "=" is accepted.
    assert bea.schema.defs == ("DS:TotalHeap:GAUGE:600:U:U", "DS:Threads:GAUGE:600:U:U")
    assert mibs["systemmib"].schema.defs == ()
    assert isinstance(mibs["systemmib"], Mib)


def test_readmibs_quirks(tmp_path: Path) -> None:
    cfg = tmp_path / "snmpmibs.cfg"
    cfg.write_text(
        "[Mixed]\n"
        "  tableSize = X::tableSize.0  /rrd:GAUGE\n"  # a "table" keyword line in readmibs()
        "  extraLoad = X::extraLoad.0  /rrd:GAUGE\n"  # an "extra" keyword line
        "  Load =X::load.0 /rrd:GAUGE\n"  # the "=X::load.0" token is skipped: the OID is
        "  Free = X::free.0 /rrd:COUNTER /rrd:GAUGE # last type wins\n"  # "/rrd:GAUGE"
        "[mixed]\n"
        "  Other = X::other.0 /rrd:GAUGE\n"
    )
    mibs = load_mibs(cfg)
    assert list(mibs) == ["mixed"]
    mib = mibs["mixed"]
    assert mib.name == "Mixed" and mib.tabular
    assert mib.items == (
        MibItem("Load", "/rrd:GAUGE", None),
        MibItem("Free", "X::free.0", "GAUGE"),
    )


def test_includes_are_followed(tmp_path: Path) -> None:
    (tmp_path / "mibs.d").mkdir()
    (tmp_path / "mibs.d" / "extra.cfg").write_text("[mine]\n  Temp = X::t.0 /rrd:GAUGE\n")
    cfg = tmp_path / "snmpmibs.cfg"
    cfg.write_text(
        f"include {CFG}\ndirectory mibs.d\noptional include nothere.cfg\n"
        "[last]\n  Count = X::c.0 /rrd:DERIVE\n"
    )
    mibs = load_mibs(cfg)
    assert {"hrsystem", "hrstorage", "mine", "last"} <= set(mibs)
    assert mibs["mine"].schema.defs == ("DS:Temp:GAUGE:600:U:U",)


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("# top\n  Foo = X::foo.0 /rrd:GAUGE\n", 2, "outside any"),
        ("[m]\n\n  Foo =\n", 3, "no OID"),
        ("[m]\n  Foo=X::foo.0\n", 2, "no OID"),
        ("[m\n", 1, "section header"),
        ("[]\n", 1, "section header"),
    ],
)
def test_a_bad_line_is_a_config_error(tmp_path: Path, text: str, line: int, what: str) -> None:
    cfg = tmp_path / "snmpmibs.cfg"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=rf"snmpmibs\.cfg:{line}: .*{what}"):
        load_mibs(cfg)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothere.cfg"):
        load_mibs(tmp_path / "nothere.cfg")
    cfg = tmp_path / "snmpmibs.cfg"
    cfg.write_text("include gone.cfg\n")
    with pytest.raises(ConfigError, match=r"snmpmibs\.cfg:1: include .*gone\.cfg"):
        load_mibs(cfg)


def test_no_file_means_no_mibs() -> None:
    assert load_mibs(None) == {}
