from __future__ import annotations

import re
from pathlib import Path

import pytest

from rrdd.config import KEYS, read_config
from rrdd.errors import ConfigError
from rrdd.settings import Settings

SAMPLE = Path(__file__).parent.parent / "cfg/rrdd.toml"
# A commented-out key in the sample: "# key = value", or a table header "# [ncv]".
SETTING_LINE = re.compile(r"^# (?=[a-z0-9_]+ = |\[[a-z]+\]$)", re.MULTILINE)


def at(path: Path, rest: str) -> str:
    """A pattern for an error message: `path` verbatim, then the regular expression `rest`."""
    return "^" + re.escape(str(path)) + rest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fragments_are_read_in_name_order_after_the_main_file(tmp_path: Path) -> None:
    main = write(
        tmp_path / "rrdd.toml",
        'config_dir = "rrdd.d"\ncache_age = 600\ndebug = true\n[ncv]\na = "x:GAUGE"\n',
    )
    d = tmp_path / "rrdd.d"
    write(d / "20-b.toml", 'cache_age = 60\n[ncv]\nb = "y:GAUGE"\n')
    write(d / "10-a.toml", 'cache_age = 300\nwrites_per_second = 5\n[ncv]\na = "z:DERIVE"\n')
    write(d / ".10-a.toml.swp.toml", "not toml at all")
    write(d / "README", "not toml either")
    (d / "sub.toml").mkdir()

    fs = read_config(main, required=True)

    assert fs.files == (main, d / "10-a.toml", d / "20-b.toml")
    assert fs.values == {
        "cache_age": 60,
        "debug": True,
        "writes_per_second": 5,
        "ncv": {"a": "z:DERIVE", "b": "y:GAUGE"},
    }
    assert fs.origins["cache_age"] == f"{d}/20-b.toml:1"
    assert fs.origins["debug"] == f"{main}:3"
    assert fs.origins["ncv"] == f"{d}/10-a.toml:4, {d}/20-b.toml:3"


def test_origins_give_the_line_of_each_key(tmp_path: Path) -> None:
    main = write(
        tmp_path / "rrdd.toml",
        "# a comment\n"
        '\n  rrdcached = "unix:/s"  # trailing\n'
        'test2rrd = """\ncpu=la,\ndebug = true\n"""\n'
        "debug = false\n"
        'splitncv.db = "*:GAUGE"\n'
        '"trackmax" = ["a",\n  "b"]\n'
        "[ncv]\n"
        'one = "a:GAUGE"\n'
        '"two-x" = "b:GAUGE"\n',
    )
    o = read_config(main, required=True).origins
    assert o == {
        "rrdcached": f"{main}:3",
        "test2rrd": f"{main}:4",
        "debug": f"{main}:8",
        "splitncv": f"{main}:9",
        "trackmax": f"{main}:10",
        "ncv": f"{main}:13, {main}:14",
    }


def test_an_empty_table_has_the_line_of_its_header(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", "debug = true\n\n[splitncv]\n")
    fs = read_config(main, required=True)
    assert fs.values["splitncv"] == {} and fs.origins["splitncv"] == f"{main}:3"


def test_a_later_plain_value_replaces_a_table(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", 'config_dir = "d"\n[ncv]\na = "x:GAUGE"\n')
    write(tmp_path / "d/a.toml", 'ncv = "oops"\n')
    fs = read_config(main, required=True)
    assert fs.values["ncv"] == "oops"  # for the Settings model to refuse
    assert fs.origins["ncv"] == f"{tmp_path}/d/a.toml:1"


def test_relative_paths_are_taken_from_the_files_directory(tmp_path: Path) -> None:
    main = write(
        tmp_path / "etc/rrdd.toml",
        'config_dir = "rrdd.d"\nrrddir = "../rrd"\nlogfile = "/var/log/rrdd.log"\n'
        'rrdcached = "unix:sock"\n',
    )
    write(tmp_path / "etc/rrdd.d/x.toml", 'extra_script = "bin/x.sh"\n')
    v = read_config(main, required=True).values
    assert v["rrddir"] == str(tmp_path / "etc/../rrd")
    assert v["logfile"] == "/var/log/rrdd.log"
    assert v["extra_script"] == str(tmp_path / "etc/rrdd.d/bin/x.sh")
    assert v["rrdcached"] == "unix:sock"  # an address, not a path


def test_unknown_key_names_the_line_and_close_keys(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", "debug = true\ncache_agee = 5\n")
    with pytest.raises(
        ConfigError,
        match=at(main, r":2: unknown key 'cache_agee'; did you mean cache_age or cache\?$"),
    ):
        read_config(main, required=True)


def test_unknown_key_in_a_fragment_and_no_close_key(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", 'config_dir = "d"\n')
    frag = write(tmp_path / "d/x.toml", "\n[zzz]\nq = 1\n")
    with pytest.raises(
        ConfigError, match=at(frag, r":2: unknown key 'zzz'; the keys are .*cache_age")
    ):
        read_config(main, required=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_message = 1\n", "max_message cannot be set in a file"),
        ("config_dir = 5\n", "config_dir must be a directory name"),
        ('config_dir = "nowhere"\n', r"config_dir .*nowhere does not exist"),
        ('config_dir = "rrdd.toml"\n', r"config_dir .*rrdd.toml is not a directory"),
    ],
)
def test_bad_keys_in_the_main_file(tmp_path: Path, text: str, message: str) -> None:
    main = write(tmp_path / "rrdd.toml", text)
    with pytest.raises(ConfigError, match=at(main, ":1: " + message)):
        read_config(main, required=True)


def test_config_dir_only_in_the_main_file(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", 'config_dir = "d"\n')
    frag = write(tmp_path / "d/x.toml", 'config_dir = "."\n')
    with pytest.raises(ConfigError, match=at(frag, r":1: config_dir is read only from the main")):
        read_config(main, required=True)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("debug = true\ncache = yes\n", ":2:9: Invalid value$"),
        ("[ncv]\na = 1\n[ncv]\n", ":3:5: Cannot declare"),
        ('debug = "open\n', ":1:14: Illegal character"),
        ("debug = ", ": Invalid value \\(at end of document\\)$"),
    ],
)
def test_syntax_error_names_the_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    main = write(tmp_path / "rrdd.toml", text)
    with pytest.raises(ConfigError, match=at(main, where)):
        read_config(main, required=True)


def test_syntax_error_in_a_fragment_names_the_fragment(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", 'config_dir = "d"\n')
    frag = write(tmp_path / "d/x.toml", "debug = true\n\ndebug\n")
    with pytest.raises(ConfigError, match=at(frag, r":3:")):
        read_config(main, required=True)


def test_not_utf8(tmp_path: Path) -> None:
    main = tmp_path / "rrdd.toml"
    main.write_bytes(b"debug = true\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=at(main, r":2: not UTF-8")):
        read_config(main, required=True)


def test_missing_optional_file_is_empty(tmp_path: Path) -> None:
    fs = read_config(tmp_path / "absent.toml", required=False)
    assert fs.values == {} and fs.origins == {} and fs.files == ()
    assert read_config(None, required=True).files == ()


def test_missing_required_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=at(tmp_path, r"/absent.toml: no such file")):
        read_config(tmp_path / "absent.toml", required=True)


def test_an_existing_optional_file_is_still_checked(tmp_path: Path) -> None:
    main = write(tmp_path / "rrdd.toml", "nonsense = 1\n")
    with pytest.raises(ConfigError, match="unknown key"):
        read_config(main, required=False)


def test_sample_parses_as_shipped() -> None:
    fs = read_config(SAMPLE, required=True)
    assert fs.values == {} and fs.files == (SAMPLE,)


def test_sample_with_every_key_uncommented(tmp_path: Path) -> None:
    text = SETTING_LINE.sub("", SAMPLE.read_text())
    main = write(tmp_path / "rrdd.toml", text)
    (tmp_path / "rrdd.d").mkdir()

    fs = read_config(main, required=True)

    assert sorted(fs.values) == sorted(KEYS)
    settings = Settings(**fs.values)
    for name, info in Settings.model_fields.items():
        if name in fs.values and not info.is_required() and info.default not in (None, (), {}):
            assert getattr(settings, name) == info.default, f"{name}: the sample's default"


def test_sample_says_what_each_key_and_table_does() -> None:
    lines = SAMPLE.read_text().split("\n")
    first_table = next(n for n, line in enumerate(lines) if line.startswith("# ["))
    for number, line in enumerate(lines):
        if SETTING_LINE.match(line) and (number < first_table or line.startswith("# [")):
            before = lines[number - 1]
            assert before.startswith("# ") and not SETTING_LINE.match(before), line
