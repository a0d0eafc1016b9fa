"""A host's graphs: Xymon's graphs.cfg where it covers a file, an automatic graph elsewhere.

graphs.cfg (Xymon's format, read as showgraph.cgi reads it): a ``[name]`` line starts a
section; TITLE, YAXIS, FNPATTERN, EXFNPATTERN, GRAPHOPTIONS and NOVZOOM lines (caseless)
describe it; every other line is one rrdtool graph argument. ``include FILE`` and
``directory DIR`` read other files. With FNPATTERN (a caseless regular expression), the
section's lines are repeated for each of the host's files it finds, with @RRDFN@ (the
file), @RRDIDX@ (its number), @RRDPARAM@ (the pattern's first group, "," as "/"),
@COLOR@ (the next of showgraph's colours), @STACKIT@ and @SERVICE@ replaced; @RRDMETA@
becomes "". A later section of the same name replaces an earlier one. ``TITLE exec:``
runs a command in showgraph; here the section's name is the title instead.

Which section draws a file follows Xymon's trends column: the first entry of GRAPHS
(xymonserver.cfg) that the file name starts with, followed by "." or ","; "tcp.http"
names the section [http], else [tcp]. A file no entry finds is drawn by the section named
after its test (the name up to the first "." or ","), so a site's own section for an NCV
or --extra-script test is used. A section finds at most 5 files per graph (N with
"name::N"), as showgraph's links do. Every file no drawable graph covers gets an automatic
graph: one line per DS.

Graphs are drawn by librrd (rrdtool.graphv) into memory. The arguments name files by
absolute path; a DEF naming anything but a file of the host's own directory, or a DS the
file lacks, makes the graph one that cannot be drawn, and the page says why.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import rrdtool

from rrdd.schema import unsafe_name
from rrdd.web.tree import RRD_LOCK

# showgraph's colours for @COLOR@, in its order.
COLORS = (
    *("0000FF", "FF0000", "00CC00", "FF00FF", "555555", "880000", "000088", "008800"),
    *("008888", "888888", "880088", "FFFF00", "888800", "00FFFF", "00FF00", "AA8800"),
    *("AAAAAA", "DD8833", "DDCC33", "8888FF", "5555AA", "B428D3", "FF5555", "DDDDDD"),
    *("AAFFAA", "AAFFFF", "FFAAFF", "FFAA55", "55AAFF", "AA55FF"),
)
WIDTH, HEIGHT = 576, 120  # Xymon's RRDWIDTH and RRDHEIGHT
FILES_PER_GRAPH = 5
# period -> (rrdtool start, legend)
PERIODS = {
    "4h": ("end-4h", "Last 4 Hours"),
    "2d": ("end-2d", "Last 2 Days"),
    "2w": ("end-2w", "Last 2 Weeks"),
    "1y": ("end-1y", "Last Year"),
}
_DEF = re.compile(r"DEF:([^=]*)=((?:[^:\\]|\\.)*):(.*)", re.S)
_INCLUDE_DEPTH = 10


class GraphError(Exception):
    """librrd could not draw the graph; the message is librrd's."""


@dataclass
class Section:
    """One [name] of graphs.cfg."""

    name: str
    where: str  # FILE:LINE of its [name] line
    title: str = ""
    yaxis: str = ""
    fnpattern: str | None = None
    exfnpattern: str | None = None
    options: list[str] = field(default_factory=list)  # GRAPHOPTIONS, split at blanks
    lines: list[str] = field(default_factory=list)  # rrdtool arguments, tokens unexpanded


def read_graphs_cfg(path: Path) -> dict[str, Section]:
    """The sections of a graphs.cfg file and the files it includes, by name.

    A file that cannot be read gives no sections, as an include of a missing file does
    in Xymon (Debian's graphs.cfg includes one that only exists at run time).
    """
    sections: dict[str, Section] = {}
    current: Section | None = None
    for where, line in _lines(path, 0):
        if line.startswith("["):
            current = Section(line[1:].partition("]")[0], where)
            sections[current.name] = current
            continue
        if current is None:
            continue
        word = line[:12].upper()
        if word.startswith("FNPATTERN"):
            current.fnpattern = line[9:].strip(" \t")
        elif word.startswith("EXFNPATTERN"):
            current.exfnpattern = line[11:].strip(" \t")
        elif word.startswith("TITLE"):
            current.title = line[5:].strip(" \t")
        elif word.startswith("YAXIS"):
            current.yaxis = line[5:].strip(" \t")
        elif word.startswith("NOVZOOM"):
            pass  # a showgraph zoom setting: nothing to zoom here
        elif word.startswith("GRAPHOPTIONS"):
            current.options = line[12:].split()
        else:
            current.lines.append(line)
    return sections


def _lines(path: Path, depth: int) -> Iterator[tuple[str, str]]:
    """(FILE:LINE, text) of every line that is not blank or a comment, includes followed."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r").lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word in ("include", "directory") and depth < _INCLUDE_DEPTH:
            target = path.parent / rest.strip()
            if word == "include":
                yield from _lines(target, depth + 1)
            else:
                yield from _directory(target, depth + 1)
            continue
        yield f"{path}:{number}", line


def _directory(path: Path, depth: int) -> Iterator[tuple[str, str]]:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return
    for name in names:
        if not name.startswith(".") and not name.endswith("~") and (path / name).is_file():
            yield from _lines(path / name, depth)


def parse_graphs(graphs: str) -> list[tuple[str, int]]:
    """Xymon's GRAPHS: (name, files per graph, 0 for the default) for each entry."""
    entries = []
    for entry in graphs.split(","):
        name, _, rest = entry.strip().partition(":")
        most = rest.partition(":")[2]
        if name:
            entries.append((name, int(most) if most.isdigit() else 0))
    return entries


@dataclass(frozen=True)
class Graph:
    """One graph of a host: what it draws and with which rrdtool arguments."""

    id: str  # unique among the host's graphs: the section's name (":N" for its Nth), or auto:FILE
    title: str
    yaxis: str
    section: str | None  # the graphs.cfg section; None for an automatic graph
    where: str  # the section's FILE:LINE, or "automatic"
    files: tuple[str, ...]  # the RRD files it reads
    args: tuple[str, ...]  # rrdtool graph arguments after the common ones
    problems: tuple[str, ...] = ()  # why it cannot be drawn; empty when it can


DsNames = Callable[[str], "tuple[str, ...] | None"]  # a file's DS names; None if unreadable


def plan(
    directory: Path,
    files: list[str],
    sections: dict[str, Section],
    graphs: str,
    ds_of: DsNames,
) -> list[Graph]:
    """The graphs of the host whose files are `files` in `directory`, in display order."""
    entries = parse_graphs(graphs)
    chosen: dict[str, tuple[int, Section, int]] = {}
    for name in files:
        found = _section_of(name, entries, sections)
        if found is not None:
            chosen.setdefault(found[1].name, found)
    result: list[Graph] = []
    covered: set[str] = set()
    for _, section, most in sorted(chosen.values(), key=lambda c: (c[0], c[1].name)):
        for graph in _section_graphs(directory, section, files, most, ds_of):
            result.append(graph)
            if not graph.problems:
                covered.update(graph.files)
    result.extend(automatic(directory, name, ds_of) for name in files if name not in covered)
    return result


def _section_of(
    name: str, entries: list[tuple[str, int]], sections: dict[str, Section]
) -> tuple[int, Section, int] | None:
    for order, (entry, most) in enumerate(entries):
        if name.startswith(entry) and name[len(entry) : len(entry) + 1] in (".", ","):
            split = re.match(r"([^.:]*)[.:](.*)", entry)
            if split:  # "tcp.http": the section of the part after the dot, else before
                section = sections.get(split[2]) or sections.get(split[1])
            else:
                section = sections.get(entry)
            if section is not None:
                return order, section, most
            break
    test = re.split(r"[.,]", name, maxsplit=1)[0]
    section = sections.get(test)
    if section is not None and not test.endswith("-multi"):
        return len(entries), section, 0
    return None


def _section_graphs(
    directory: Path, section: Section, files: list[str], most: int, ds_of: DsNames
) -> list[Graph]:
    if section.fnpattern is None:
        lines = _expand(section, [(f"{section.name}.rrd", None)], 0)
        return [_graph(section.name, section, directory, files, lines, ds_of)]
    try:
        pattern = re.compile(section.fnpattern, re.I)
        exclude = re.compile(section.exfnpattern, re.I) if section.exfnpattern else None
    except re.error as e:
        problem = f"{section.where}: a pattern is not a regular expression: {e}"
        return [_graph(section.name, section, directory, files, [], ds_of, problem)]
    found: list[tuple[str, str | None]] = []
    for name in files:
        m = pattern.search(name)
        if m is None or (exclude is not None and exclude.search(name)):
            continue
        param = m.group(1) if pattern.groups else None
        if param is not None and section.name.startswith(("disk", "inode")) and param == ",root":
            param = ","  # the root file system, "/" once commas are slashes
        elif param is not None and section.name == "http" and not param.startswith("http"):
            param = "http://" + param
        found.append((name, param))
    found.sort(key=lambda f: _sort_key(f[1] if f[1] is not None else f[0]))
    if not found:
        return []
    count = math.ceil(len(found) / (most or FILES_PER_GRAPH))
    size = math.ceil(len(found) / count)
    graphs = []
    for number in range(count):
        chunk = found[number * size : (number + 1) * size]
        if not chunk:
            break
        lines = _expand(section, chunk, number * size, width=_widest(found))
        graph_id = section.name if count == 1 else f"{section.name}:{number + 1}"
        graphs.append(_graph(graph_id, section, directory, files, lines, ds_of))
    return graphs


def _sort_key(key: str) -> tuple[int, int, str]:
    """showgraph's order: by number when keys are numbers, else by text."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _param(param: str) -> str:
    return _colons(param).replace(",", "/")[:100]


def _widest(found: list[tuple[str, str | None]]) -> int:
    return max((len(_param(p)) for _, p in found if p is not None), default=0)


def _colons(text: str) -> str:
    return text.replace(":", "\\:")


def _expand(
    section: Section, files: list[tuple[str, str | None]], first: int, width: int = 0
) -> list[str]:
    """The section's lines once per file, with the @TOKENS@ replaced."""
    out = []
    colour = 0
    for index, (name, param) in enumerate(files, first):
        for line in section.lines:
            parts = re.split(r"(@[A-Z]+@)", line)
            for i in range(1, len(parts), 2):
                token = parts[i]
                if token == "@RRDFN@":
                    parts[i] = _colons(name)
                elif token == "@RRDPARAM@":
                    parts[i] = _param(param).ljust(width) if param is not None else ""
                elif token == "@RRDMETA@":
                    parts[i] = ""
                elif token == "@RRDIDX@":
                    parts[i] = str(index)
                elif token == "@STACKIT@":
                    parts[i] = "STACK" if index > first else ""
                elif token == "@SERVICE@":
                    parts[i] = section.name
                elif token == "@COLOR@":
                    parts[i] = COLORS[colour % len(COLORS)]
                    colour += 1
            out.append("".join(parts))
    return out


def _graph(
    graph_id: str,
    section: Section,
    directory: Path,
    files: list[str],
    lines: list[str],
    ds_of: DsNames,
    *problems: str,
) -> Graph:
    args, used, found = _files_of(directory, files, lines, ds_of)
    return Graph(
        id=graph_id,
        title=section.name if section.title.startswith("exec:") else section.title or section.name,
        yaxis=section.yaxis,
        section=section.name,
        where=section.where,
        files=tuple(used),
        args=(*section.options, *args),
        problems=(*problems, *found),
    )


def _files_of(
    directory: Path, files: list[str], lines: list[str], ds_of: DsNames
) -> tuple[list[str], list[str], list[str]]:
    """The lines with each DEF's file made absolute, the files they read, and problems."""
    args: list[str] = []
    used: list[str] = []
    problems: list[str] = []
    for line in lines:
        m = _DEF.fullmatch(line)
        if m is None:
            args.append(line)
            continue
        name = m[2].replace("\\:", ":")
        ds = m[3].partition(":")[0]
        if unsafe_name(name) or name not in files:
            problems.append(f"it needs {name}, which this host does not have")
        else:
            if name not in used:
                used.append(name)
            names = ds_of(name)
            if names is None:
                problems.append(f"librrd cannot read {name}")
            elif ds not in names:
                problems.append(f"{name} has no data source {ds!r}")
        args.append(f"DEF:{m[1]}={_colons(os.fspath(directory / name))}:{m[3]}")
    return args, used, list(dict.fromkeys(problems))


def automatic(directory: Path, name: str, ds_of: DsNames) -> Graph:
    """A line for each DS of the file, in showgraph's colours, with its figures."""
    names = ds_of(name)
    if names is None:
        problem = f"librrd cannot read {name}"
        return Graph(f"auto:{name}", name, "", None, "automatic", (name,), (), (problem,))
    path = _colons(os.fspath(directory / name))
    width = max(len(ds) for ds in names)
    args = []
    for index, ds in enumerate(names):
        colour = COLORS[index % len(COLORS)]
        args += [
            f"DEF:v{index}={path}:{ds}:AVERAGE",
            f"LINE2:v{index}#{colour}:{ds.ljust(width)}",
            f"GPRINT:v{index}:LAST:\\: %8.2lf%s (cur)",
            f"GPRINT:v{index}:MAX:\\: %8.2lf%s (max)",
            f"GPRINT:v{index}:MIN:\\: %8.2lf%s (min)",
            f"GPRINT:v{index}:AVERAGE:\\: %8.2lf%s (avg)\\n",
        ]
    title = name.removesuffix(".rrd")
    return Graph(f"auto:{name}", title, "", None, "automatic", (name,), tuple(args))


def draw(graph: Graph, host: str, period: str, now: float) -> dict[str, object]:
    """librrd's graphv of the graph over `period`: "image" holds the PNG; GraphError."""
    start, legend = PERIODS[period]
    stamp = time.strftime("%d-%b-%Y %H:%M:%S", time.localtime(now))
    args = [
        "-",
        "--title",
        f"{host} {graph.title} {legend}",
        f"-w{WIDTH}",
        f"-h{HEIGHT}",
        "-v",
        graph.yaxis,
        "-a",
        "PNG",
        "-s",
        start,
        "-e",
        str(int(now)),
        *graph.args,
        f"COMMENT:Updated{_colons(': ' + stamp)}",
    ]
    try:
        with RRD_LOCK:
            info: dict[str, object] = rrdtool.graphv(*args)
    except rrdtool.OperationalError as e:
        raise GraphError(str(e)) from None
    return info
