"""Readers for the Xymon configuration files rrdd uses: rrddefinitions.cfg and protocols.cfg.

Both follow Xymon's file conventions: ``#`` starts a comment, lines are trimmed, and
``include FILE``, ``directory DIR`` and ``optional include|directory ...`` pull in more
files (``@XYMONHOME@`` in a path is replaced by $XYMONHOME).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rrdd.errors import ConfigError

log = logging.getLogger("rrdd.config")

# Xymon's built-in RRAs when rrddefinitions.cfg has no [] section: 576 rows at 5 min,
# 30 min, 2 h and 1 day.
DEFAULT_RRAS = (
    "RRA:AVERAGE:0.5:1:576",
    "RRA:AVERAGE:0.5:6:576",
    "RRA:AVERAGE:0.5:24:576",
    "RRA:AVERAGE:0.5:288:576",
)

# Service names xymonnet tests over TCP when XYMONNETSVCS is unset. Each one, and each
# section of protocols.cfg, is routed to the tcp handler as "<svc>=tcp".
DEFAULT_NETSVCS = (
    "smtp telnet ftp pop pop3 pop-3 ssh imap ssh1 ssh2 imap2 imap3 imap4 pop2 pop-2 nntp"
)


def numbered_lines(
    path: Path, xymonhome: str = "", *, inline_comments: bool = True, _depth: int = 0
) -> Iterator[tuple[str, str]]:
    """("FILE:LINE", text) for each meaningful line of a Xymon configuration file.

    Includes are followed. With `inline_comments` a "#" anywhere starts a comment (Xymon's
    sanitize_input); without it only lines that start with "#" are comments.
    """
    if _depth > 10:
        raise ConfigError(f"{path}: includes nested too deep")
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = (raw.split("#", 1)[0] if inline_comments else raw).strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 1)
        optional = words[0] == "optional" and len(words) == 2
        if optional:
            words = words[1].split(None, 1)
        if words[0] in ("include", "directory") and len(words) == 2:
            target = Path(words[1].replace("@XYMONHOME@", xymonhome))
            if not target.is_absolute():
                target = path.parent / target
            if not target.exists():
                if optional:
                    continue
                raise ConfigError(f"{path}:{number}: {words[0]} {target}: no such file")
            files = (
                sorted(p for p in target.iterdir() if p.is_file()) if target.is_dir() else [target]
            )
            for f in files:
                yield from numbered_lines(
                    f, xymonhome, inline_comments=inline_comments, _depth=_depth + 1
                )
            continue
        yield f"{path}:{number}", line


def config_lines(path: Path, xymonhome: str = "") -> Iterator[str]:
    """The meaningful lines of a Xymon configuration file, includes followed."""
    for _, line in numbered_lines(path, xymonhome):
        yield line


@dataclass(frozen=True)
class RraDefinitions:
    """rrddefinitions.cfg: ``[key]`` sections of rrdcreate arguments, one per line.

    The key is the test (column) name, or ``<test>/<step>`` when the step is not 300;
    keys are caseless, the first section of a name wins, and ``[]`` is the fallback.
    """

    sections: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path | None, xymonhome: str = "") -> RraDefinitions:
        sections: dict[str, tuple[str, ...]] = {}
        if path is not None:
            key: str | None = None
            lines: list[str] = []
            for line in [*config_lines(path, xymonhome), "["]:
                if line.startswith("["):
                    if key is not None and lines and key not in sections:
                        sections[key] = tuple(lines)
                    key, lines = line[1:].split("]", 1)[0].strip().lower(), []
                elif key is not None:
                    lines.append(line)
        sections.setdefault("", DEFAULT_RRAS)
        return cls(sections)

    def lookup(self, test: str, step: int) -> tuple[str, ...]:
        key = test.lower() if step == 300 else f"{test.lower()}/{step}"
        return self.sections.get(key) or self.sections[""]


def tcp_services(protocols: Path | None, netsvcs: str | None, xymonhome: str = "") -> list[str]:
    """Every TCP service name: $XYMONNETSVCS (or its default) plus protocols.cfg's sections.

    Without a protocols.cfg only $XYMONNETSVCS counts, as in xymond_rrd.
    """
    names = (netsvcs if netsvcs is not None else DEFAULT_NETSVCS).split()
    if protocols is not None:
        for line in config_lines(protocols, xymonhome):
            if line.startswith("["):
                names += [n.strip() for n in line[1:].split("]", 1)[0].split("|") if n.strip()]
    return list(dict.fromkeys(names))
