from __future__ import annotations

from pathlib import Path

import pytest

from rrdd.errors import ConfigError
from rrdd.hostscfg import load_interfaces
from rrdd.xymoncfg import DEFAULT_NETSVCS, DEFAULT_RRAS, RraDefinitions, tcp_services


def test_sections_are_caseless_first_wins_and_empty_ones_dropped(tmp_path: Path) -> None:
    cfg = tmp_path / "rrddefinitions.cfg"
    cfg.write_text(
        "# comment\n[ifmib/60]\n\tRRA:AVERAGE:0.5:5:576  # five minutes\n"
        "[CPU]\n  RRA:AVERAGE:0.5:1:100\n  RRA:MAX:0.5:1:100\n[cpu]\n RRA:MIN:0.5:1:1\n"
        "[empty]\n[]\n RRA:AVERAGE:0.5:1:10\n"
    )
    defs = RraDefinitions.load(cfg)
    assert defs.lookup("cpu", 300) == ("RRA:AVERAGE:0.5:1:100", "RRA:MAX:0.5:1:100")
    assert defs.lookup("ifmib", 60) == ("RRA:AVERAGE:0.5:5:576",)
    assert defs.lookup("ifmib", 300) == ("RRA:AVERAGE:0.5:1:10",)
    assert defs.lookup("empty", 300) == ("RRA:AVERAGE:0.5:1:10",)


def test_no_file_or_no_default_section_gives_xymons_four_rras(tmp_path: Path) -> None:
    assert RraDefinitions.load(None).lookup("disk", 300) == DEFAULT_RRAS
    cfg = tmp_path / "r.cfg"
    cfg.write_text("[disk]\nRRA:AVERAGE:0.5:1:5\n")
    assert RraDefinitions.load(cfg).lookup("memory", 300) == DEFAULT_RRAS


def test_include_and_optional_directory(tmp_path: Path) -> None:
    (tmp_path / "etc/rrddefinitions.d").mkdir(parents=True)
    (tmp_path / "etc/rrddefinitions.d/a.cfg").write_text("[la]\nRRA:AVERAGE:0.5:1:7\n")
    (tmp_path / "etc/more.cfg").write_text("[disk]\nRRA:AVERAGE:0.5:1:8\n")
    cfg = tmp_path / "etc/rrddefinitions.cfg"
    cfg.write_text(
        "include more.cfg\noptional directory @XYMONHOME@/etc/rrddefinitions.d\n"
        "optional include /nonexistent.cfg\n"
    )
    defs = RraDefinitions.load(cfg, str(tmp_path))
    assert defs.lookup("la", 300) == ("RRA:AVERAGE:0.5:1:7",)
    assert defs.lookup("disk", 300) == ("RRA:AVERAGE:0.5:1:8",)


def test_missing_include_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "r.cfg"
    cfg.write_text("include nothere.cfg\n")
    with pytest.raises(ConfigError, match="nothere.cfg"):
        RraDefinitions.load(cfg)


def test_tcp_services_from_protocols_cfg_and_netsvcs(tmp_path: Path) -> None:
    cfg = tmp_path / "protocols.cfg"
    cfg.write_text('[ftp]\n   send "quit"\n[ssh|ssh1|ssh2]\n[ mysvc ]\n')
    assert tcp_services(cfg, "smtp ftp") == ["smtp", "ftp", "ssh", "ssh1", "ssh2", "mysvc"]
    assert tcp_services(None, None) == DEFAULT_NETSVCS.split()  # no protocols.cfg
    assert tcp_services(None, "ldap") == ["ldap"]


def test_the_shipped_file_equals_xymons_defaults() -> None:
    shipped = Path(__file__).parent.parent / "cfg/rrddefinitions.cfg"
    defs = RraDefinitions.load(shipped, "/nonexistent")
    assert defs.lookup("cpu", 300) == DEFAULT_RRAS
    assert defs.lookup("ifmib", 60) == (
        "RRA:AVERAGE:0.5:5:576",
        "RRA:AVERAGE:0.5:30:576",
        "RRA:AVERAGE:0.5:120:576",
        "RRA:AVERAGE:0.5:1440:576",
    )


def test_hosts_cfg_interfaces_filters(tmp_path: Path) -> None:
    (tmp_path / "hosts.d").mkdir()
    (tmp_path / "hosts.d/more.cfg").write_text("10.0.0.3 r3 # INTERFACES:^gi\n")
    cfg = tmp_path / "hosts.cfg"
    cfg.write_text(
        "# comment\npage servers Servers\n10.0.0.1 web1 # conn INTERFACES:^(eth|en)\n"
        "10.0.0.2 web2 # conn ssh\n10.0.0.4 bad # INTERFACES:([\ndirectory hosts.d\n"
    )
    filters = load_interfaces(cfg)
    web1 = filters("web1")
    assert web1 is not None and web1.search("ETH0") and not web1.search("lo")
    assert filters("web2") is None and filters("bad") is None and filters("nosuch") is None
    r3 = filters("r3")
    assert r3 is not None and r3.search("Gi0/1")
    assert load_interfaces(None)("web1") is None
    assert load_interfaces(cfg) == filters  # a reload can tell nothing has changed
    cfg.write_text("10.0.0.1 web1 # conn INTERFACES:^eth\n")
    assert load_interfaces(cfg) != filters
