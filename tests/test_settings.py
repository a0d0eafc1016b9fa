from __future__ import annotations

from pathlib import Path

import pytest

from rrdd.daemon import Daemon
from rrdd.errors import ConfigError
from rrdd.events import Counts
from rrdd.settings import Applies, Settings, applies, load_settings, resolve_settings, restart_only
from rrdd.writer.memory import MemoryWriter


def test_command_line_beats_environment() -> None:
    s = load_settings({"rrddir": "/cli"}, {"XYMONRRDS": "/env"})
    assert s.rrddir == Path("/cli")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XYMONRRDS": "/a", "BBRRDS": "/b"}, "/a"),
        ({"BBRRDS": "/b"}, "/b"),
        ({"XYMONVAR": "/var/lib/xymon"}, "/var/lib/xymon/rrd"),
        ({"BBVAR": "/bb"}, "/bb/rrd"),
    ],
)
def test_rrd_directory_from_xymon_and_hobbit_names(env: dict[str, str], expected: str) -> None:
    assert load_settings({}, env).rrddir == Path(expected)


def test_no_rrd_directory_is_an_error() -> None:
    with pytest.raises(ConfigError, match="--rrddir"):
        load_settings({}, {})


def test_environment_families_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/rrddefinitions.cfg").write_text("[]\nRRA:AVERAGE:0.5:1:5\n")
    env = {
        "XYMONRRDS": "/r",
        "XYMONHOME": str(tmp_path),
        "BBTMP": "/tmp/bb",
        "NCV_myapp": "conns:GAUGE",
        "SPLITNCV_db": "*:GAUGE",
        "TRACKMAX": "myapp,db",
        "RRDDISKS": "^/var",
        "PINGCOLUMN": "ping",
        "MAXMSG_DATA": "2048",
    }
    s = load_settings({"no_cache": True, "extra_tests": "a,b,"}, env)
    assert s.ncv == {"myapp": "conns:GAUGE"} and s.splitncv == {"db": "*:GAUGE"}
    assert s.trackmax == ("myapp", "db") and s.extra_tests == ("a", "b")
    assert s.rrddisks == "^/var" and s.norrddisks is None
    assert s.rrddefinitions == tmp_path / "etc/rrddefinitions.cfg"
    assert s.tmpdir == Path("/tmp/bb")
    assert not s.cache and s.rrd
    assert ",ping=tcp," in s.test2rrd  # $PINGCOLUMN in the default TEST2RRD
    assert s.max_message == 2048 * 1024 + 4095


def test_bad_regex_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="rrddisks"):
        load_settings({}, {"XYMONRRDS": "/r", "RRDDISKS": "(unclosed"})


def test_settings_are_frozen() -> None:
    s = load_settings({}, {"XYMONRRDS": "/r"})
    with pytest.raises(ValueError, match="frozen"):
        s.rrddir = Path("/other")  # type: ignore[misc]


@pytest.mark.parametrize("spec", ["conns", "conns:gauge", "a:GAUGE,b:FLOAT"])
def test_bad_ncv_type_list_stops_start_up(spec: str) -> None:
    with pytest.raises(ConfigError, match="ncv"):
        load_settings({}, {"XYMONRRDS": "/r", "NCV_myapp": spec})


def test_ncv_type_lists_xymon_accepts() -> None:
    env = {"XYMONRRDS": "/r", "NCV_a": "x:GAUGE,*:NONE", "SPLITNCV_b": "", "NCV_c": "y:none"}
    assert load_settings({}, env).ncv == {"a": "x:GAUGE,*:NONE", "c": "y:none"}


def test_state_dir_follows_tmpdir_unless_set() -> None:
    s, origins = resolve_settings({"rrddir": "/r"}, {"XYMONTMP": "/var/lib/xymon/tmp"})
    assert s.state_dir == Path("/var/lib/xymon/tmp/rrdd")
    assert origins["state_dir"] == "default, from tmpdir (environment XYMONTMP)"
    assert load_settings({"rrddir": "/r"}, {}).state_dir is None


@pytest.mark.parametrize("address", ["9128", "localhost", "::1:9128", "h:0"])
def test_bad_metrics_address_stops_start_up(address: str) -> None:
    with pytest.raises(ConfigError, match="metrics_listen.*bad address"):
        load_settings({"rrddir": "/r", "metrics_listen": address}, {})


def test_every_setting_says_when_a_new_value_takes_effect() -> None:
    for name, field in Settings.model_fields.items():
        marks = [m for m in field.metadata if isinstance(m, Applies)]
        assert len(marks) == 1, f"{name}: mark it LIVE or RESTART"
        assert applies(name) is marks[0]


def test_a_reload_names_what_waits_for_a_restart(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    old = load_settings({"rrddir": str(tmp_path)}, {})
    new = old.model_copy(update={"processor_bufsize": 100, "cache_age": 60.0, "workers": 3})
    assert restart_only(old, new) == ["workers", "processor_bufsize"]
    writer = MemoryWriter()
    daemon = Daemon(old, writer, Counts(), rebuild=lambda: new)
    daemon.reload()
    # The reload sets up rrdd's own log handlers, which write to stderr.
    assert "take effect after a restart: workers, processor_bufsize" in capfd.readouterr().err
    assert daemon.settings is new
