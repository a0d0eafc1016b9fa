from __future__ import annotations

from pathlib import Path

import pytest

from rrdd.cli import main
from rrdd.config import read_config
from rrdd.errors import ConfigError
from rrdd.settings import resolve_settings


def test_command_line_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    conf = tmp_path / "rrdd.toml"
    conf.write_text(
        'rrddir = "/file"\ntmpdir = "/file-tmp"\ncache_age = 60\npingcolumn = "ping"\n'
        '[ncv]\na = "x:GAUGE"\nb = "y:GAUGE"\n'
    )
    file = read_config(conf, required=True)
    env = {"XYMONRRDS": "/env", "XYMONTMP": "/env-tmp", "NCV_b": "z:DERIVE"}
    s, origins = resolve_settings({"rrddir": "/cli"}, env, file)
    assert (s.rrddir, s.tmpdir, s.cache_age) == (Path("/cli"), Path("/env-tmp"), 60)
    assert s.ncv == {"a": "x:GAUGE", "b": "z:DERIVE"}
    assert ",ping=tcp," in s.test2rrd  # the file's pingcolumn in the default TEST2RRD
    assert origins["rrddir"] == "command line"
    assert origins["tmpdir"] == "environment XYMONTMP"
    assert origins["cache_age"] == f"{conf}:3"
    assert origins["ncv"] == f"environment NCV_b, {conf}:6, {conf}:7"  # b: the file, overridden
    assert origins["writes_per_second"] == "default"


def test_file_rrddir_beats_xymonvar(tmp_path: Path) -> None:
    conf = tmp_path / "rrdd.toml"
    conf.write_text('rrddir = "/file"\n')
    s, origins = resolve_settings({}, {"XYMONVAR": "/var"}, read_config(conf, required=True))
    assert s.rrddir == Path("/file") and origins["rrddir"] == f"{conf}:1"
    s, origins = resolve_settings({}, {"XYMONVAR": "/var"}, None)
    assert s.rrddir == Path("/var/rrd") and origins["rrddir"] == "environment XYMONVAR"


def test_bad_file_value_names_its_line(tmp_path: Path) -> None:
    conf = tmp_path / "rrdd.toml"
    conf.write_text("rrddir = '/r'\n\nextra_workers = 0\n")
    with pytest.raises(ConfigError, match=rf"extra_workers \({conf}:3\): Input should be"):
        resolve_settings({}, {}, read_config(conf, required=True))


def test_check_config_prints_origins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XYMONRRDS", str(tmp_path))
    conf = tmp_path / "rrdd.toml"
    conf.write_text("debug = true\n")
    assert main(["check-config", f"--config={conf}", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert f'rrddir = "{tmp_path}"  # environment XYMONRRDS\n' in out
    assert f"debug = true  # {conf}:1\n" in out
    assert "cache = false  # command line\n" in out
    assert "rrdcached = none  # default\n" in out


def test_check_config_fails_on_a_missing_given_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", f"--config={tmp_path}/none.toml"]) == 2
    assert "none.toml: no such file" in capsys.readouterr().err
