"""rrdd's configuration file: TOML, below the environment and the command line.

    rrdd --config=/etc/rrdd/rrdd.toml      (read by default when it exists)

A setting comes from the command line, else the environment (Xymon's names), else this
file, else its default. cfg/rrdd.toml lists every key with its default.

The layout is flat: a key is a Settings field name, the name `rrdd check-config` prints,
so `cache_age = 600` in the file is `--cache-age=600` on the command line. Comments do
the grouping. The two settings that are maps, `ncv` and `splitncv` (Xymon's NCV_<test>
and SPLITNCV_<test>), are tables keyed by test name, and so come last in a file:

    [ncv]
    myapp = "conns:GAUGE,errors:DERIVE"

`config_dir = "rrdd.d"`, in the main file only and relative to its directory, names a
directory of fragments: every `*.toml` there is read after the main file, in name order
(byte order), skipping names that start with ".". A later file's key replaces an earlier
one's; a table is merged entry by entry, so a fragment can add one test's NCV list
without repeating the others. A relative path in a path-valued key (rrddir, logfile ...)
is taken from the directory of the file that holds it, not from rrdd's working directory.

Only key names and TOML syntax are checked here; values are checked when the Settings
model is built. `max_message` cannot be set in a file: it follows MAXMSG_<channel>, which
must agree with xymond's own channel buffers, so xymonserver.cfg is its one source.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrdd.errors import ConfigError
from rrdd.settings import Settings

CONFIG_DIR = "config_dir"
NOT_IN_FILE = frozenset({"max_message"})
KEYS: tuple[str, ...] = tuple(name for name in Settings.model_fields if name not in NOT_IN_FILE)


def _keys_typed(test: Callable[[Any], bool]) -> frozenset[str]:
    return frozenset(name for name in KEYS if test(Settings.model_fields[name].annotation))


PATH_KEYS = _keys_typed(lambda t: t is Path or Path in typing.get_args(t))
TABLE_KEYS = _keys_typed(lambda t: typing.get_origin(t) is dict)

# tomllib reports no positions, so key lines are found by a scan of the text that knows
# table headers, dotted keys and multi-line strings: enough for a flat file with tables.
_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]")
_ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)
_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


@dataclass(frozen=True)
class FileSettings:
    """What the configuration files say, before the environment and command line."""

    values: dict[str, Any] = field(default_factory=dict)  # field name -> value from TOML
    origins: dict[str, str] = field(default_factory=dict)  # field name -> "FILE:LINE"
    files: tuple[Path, ...] = ()  # every file read, in order


def read_config(path: Path | None, *, required: bool) -> FileSettings:
    """Read the configuration file `path`, then the fragments of its config_dir.

    Without a path, or when an optional file is absent, the result is empty. A file that
    cannot be read, bad TOML, an unknown key or a bad config_dir raise ConfigError with
    FILE:LINE (when the line is known) and the reason.
    """
    if path is None or (not required and _absent(path)):
        return FileSettings()
    merged = _Merged()
    data, lines = _load(path)
    directory = _config_dir(path, data.pop(CONFIG_DIR, None), lines)
    merged.add(path, data, lines)
    for fragment in _fragments(directory) if directory is not None else []:
        data, lines = _load(fragment)
        if CONFIG_DIR in data:
            raise ConfigError(
                f"{_where(fragment, lines, (CONFIG_DIR,))}: config_dir is read only "
                f"from the main file, {path}"
            )
        merged.add(fragment, data, lines)
    return FileSettings(merged.values, merged.origins(), tuple(merged.files))


def _absent(path: Path) -> bool:
    try:
        return not path.exists()
    except OSError:  # a directory on the way cannot be searched: let reading say so
        return False


class _Merged:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.files: list[Path] = []
        self.where: dict[str, str] = {}
        self.entries: dict[str, dict[str, str]] = {}  # table key -> entry -> "FILE:LINE"

    def add(self, path: Path, data: dict[str, Any], lines: dict[tuple[str, ...], int]) -> None:
        self.files.append(path)
        for key, value in data.items():
            if key not in KEYS:
                raise ConfigError(f"{_where(path, lines, (key,))}: {_unknown(key)}")
            if key in PATH_KEYS and isinstance(value, str) and value:
                value = str(path.parent / value)
            self.where[key] = _where(path, lines, (key,))
            if key in TABLE_KEYS and isinstance(value, dict):
                if not isinstance(self.values.get(key), dict):
                    self.values[key] = {}
                    self.entries[key] = {}
                self.values[key].update(value)
                for name in value:
                    self.entries[key][name] = _where(path, lines, (key, name))
            else:
                self.values[key] = value
                self.entries.pop(key, None)

    def origins(self) -> dict[str, str]:
        origins = dict(self.where)
        for key, entries in self.entries.items():
            if entries:
                origins[key] = ", ".join(dict.fromkeys(entries.values()))
        return origins


def _load(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The file's TOML table and the line of each key (top level and one table deep)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        reason = str(e)
        m = _POSITION.search(reason)
        if m:
            raise ConfigError(f"{path}:{m[1]}:{m[2]}: {reason[: m.start()]}") from None
        raise ConfigError(f"{path}: {reason}") from None
    return data, _key_lines(text)


def _config_dir(path: Path, value: Any, lines: dict[tuple[str, ...], int]) -> Path | None:
    if value is None:
        return None
    where = _where(path, lines, (CONFIG_DIR,))
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: config_dir must be a directory name (a string)")
    directory = path.parent / value
    if not directory.is_dir():
        reason = "does not exist" if not directory.exists() else "is not a directory"
        raise ConfigError(f"{where}: config_dir {directory} {reason}")
    return directory


def _fragments(directory: Path) -> list[Path]:
    try:
        names = sorted(
            entry.name
            for entry in directory.iterdir()
            if entry.name.endswith(".toml") and not entry.name.startswith(".")
        )
    except OSError as e:
        raise ConfigError(f"{directory}: cannot list: {e.strerror or e}") from None
    return [directory / name for name in names if (directory / name).is_file()]


def _unknown(key: str) -> str:
    if key in NOT_IN_FILE:
        return f"{key} cannot be set in a file"
    known = [*KEYS, CONFIG_DIR]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    if close:
        return f"unknown key {key!r}; did you mean {' or '.join(close)}?"
    return f"unknown key {key!r}; the keys are {', '.join(sorted(known))}"


def _where(path: Path, lines: dict[tuple[str, ...], int], key: tuple[str, ...]) -> str:
    line = lines.get(key) or lines.get(key[:1])
    return f"{path}:{line}" if line else str(path)


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The first line of each key path, cut to two names: ("cache",), ("ncv", "myapp")."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    quote = ""  # the delimiter of the multi-line string being skipped
    for number, line in enumerate(text.split("\n"), 1):
        if quote:
            if line.count(quote) % 2:
                quote = ""
            continue
        if m := _HEADER.match(line):
            table = _names(m[1])
            key = table
        elif m := _ASSIGN.match(line):
            key = table + _names(m[1])
            rest = line[m.end() :]
            quote = next((q for q in ('"""', "'''") if rest.count(q) % 2), "")
        else:
            continue
        for depth in (1, 2):
            if len(key) >= depth:
                lines.setdefault(key[:depth], number)
    return lines


def _names(dotted: str) -> tuple[str, ...]:
    return tuple(p[1:-1] if p[0] in "\"'" else p for p in _PART.findall(dotted))
