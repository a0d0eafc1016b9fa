"""The pages of `rrdd web` and their JSON twins, as one WSGI application.

Each page is built as a dict by one function; the HTML route renders it with its Jinja2
template and the /api route returns it as JSON, so both always say the same. ROUTES maps
path segments to pages: a segment in HOST or FILE is a name of the tree, looked up
through tree.Tree, which answers NotFound (404) for anything that is not a host or RRD
file inside the RRD directory. The server decodes %2F to "/" before routing, so an
encoded slash makes an extra segment and no route; names are UTF-8.

Only GET and HEAD are served, and nothing is written to the RRD tree. Like showgraph.cgi,
a host's page and its files' pages first ask every rrdd of this Xymon (the rrdctl sockets
in tmpdir) to write what they hold for the host, so that the page shows the values rrdd
has received and not only those its cache has written yet.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2

from rrdd.errors import ConfigError, StartError
from rrdd.flush import request_flush
from rrdd.settings import Settings
from rrdd.web.graphs import PERIODS, Graph, GraphError, draw, plan, read_graphs_cfg
from rrdd.web.problems import KINDS, ProblemLog
from rrdd.web.tree import (
    DataSource,
    NotFound,
    RrdInfo,
    Tree,
    Unreadable,
    cache_allowance,
    first_update,
)

log = logging.getLogger("rrdd.web")

HOST, FILE = "{host}", "{file}"
FLUSH_SECONDS = 2.0  # the longest a page waits for rrdd to write a host's cached values
RECENT = 86400  # seconds: the problems a host's count on the hosts page includes
PAGE_PROBLEMS = 500  # rows of the problems page; the API takes ?limit= up to all it holds

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True)
class Response:
    status: str
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class WebApp:
    """The WSGI application: `WebApp(settings)(environ, start_response)`."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.tree = Tree(settings.rrddir, cache_allowance(settings.cache, settings.cache_age))
        self.problems = ProblemLog(settings.state_dir)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("rrdd.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters.update(
            age=age, ago=ago, when=when, q=lambda s: quote(str(s), safe="")
        )
        self.templates.globals.update(periods=PERIODS, kinds=KINDS)
        self.routes: tuple[tuple[tuple[str, ...], Callable[..., Response]], ...] = (
            (("",), self.page("hosts", self.hosts)),
            (("host", HOST), self.page("host", self.host)),
            (("host", HOST, "graph"), self.graph),
            (("host", HOST, "file", FILE), self.page("file", self.file)),
            (("problems",), self.page("problems", self.problem_list)),
            (("api",), lambda params: json_response(api_description())),
            (("api", "hosts"), self.api(self.hosts)),
            (("api", "host", HOST), self.api(self.host)),
            (("api", "host", HOST, "file", FILE), self.api(self.file)),
            (("api", "problems"), self.api(self.problem_list)),
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self.respond(environ)
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'"),
            *response.headers,
        ]
        start_response(response.status, headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [response.body]

    def respond(self, environ: dict[str, Any]) -> Response:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed", "text/plain", b"GET only\n")
        try:
            # PEP 3333: the path's bytes, decoded as Latin-1; names are UTF-8.
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            query = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8")
        except UnicodeError:
            return not_found()
        if not path.startswith("/"):
            return not_found()
        segments = path.split("/")[1:]
        params = {k: v[-1] for k, v in parse_qs(query, encoding="utf-8").items()}
        for pattern, handler in self.routes:
            names = _match(pattern, segments)
            if names is not None:
                try:
                    return handler(params, **names)
                except NotFound:
                    return not_found()
                except Exception:
                    log.exception("%s failed", path[:200])
                    return Response("500 Internal Server Error", "text/plain", b"failed\n")
        return not_found()

    def page(self, template: str, build: Callable[..., dict[str, Any]]) -> Callable[..., Response]:
        def handler(params: dict[str, str], **names: str) -> Response:
            data = build(params, **names)
            html = self.templates.get_template(f"{template}.html").render(
                data=data, now=data["now"]
            )
            return Response("200 OK", "text/html; charset=utf-8", html.encode())

        return handler

    def api(self, build: Callable[..., dict[str, Any]]) -> Callable[..., Response]:
        return lambda params, **names: json_response(build(params, **names))

    # The pages, as data.

    def hosts(self, params: dict[str, str]) -> dict[str, Any]:
        now = self.clock()
        wanted = params.get("q", "").strip().lower()
        counts = Counter(p.host for p in self.problems.recent() if now - p.time <= RECENT)
        rows = []
        for host in self.tree.hosts():
            if wanted and wanted not in host.lower():
                continue
            files = self._files(host, now)
            last = max((f["last_update"] for f in files if f["last_update"]), default=None)
            rows.append(
                {
                    "host": host,
                    "files": len(files),
                    "last_update": last,
                    "age": None if last is None else now - last,
                    "stale_files": sum(f["stale"] for f in files),
                    "unreadable_files": sum(f["error"] is not None for f in files),
                    "problems": counts.pop(host, 0),
                    "directory": True,
                }
            )
        for host, count in counts.items():  # refused before rrdd ever made their directory
            if not wanted or wanted in host.lower():
                row = {"host": host, "files": 0, "last_update": None, "age": None}
                row.update(stale_files=0, unreadable_files=0, problems=count, directory=False)
                rows.append(row)
        rows.sort(key=lambda r: (-_attention(r), r["host"]))
        return {"now": now, "filter": wanted, "recent_seconds": RECENT, "hosts": rows}

    def host(self, params: dict[str, str], host: str) -> dict[str, Any]:
        now = self.clock()
        period = params.get("period", "4h")
        if period not in PERIODS:
            raise NotFound(period)
        self.tree.host_dir(host)
        self._flush(host)
        files = self._files(host, now)
        problems = [p for p in self.problems.recent() if p.host == host]
        per_file = Counter(p.file for p in problems)
        for f in files:
            f["problems"] = per_file.get(f["name"], 0)
        graphs = [self._graph_json(host, g, (period,)) for g in self._plan(host)]
        stale = {f["name"] for f in files if f["stale"] or f["error"]}
        for graph in graphs:  # what may leave the graph empty, said beside it
            graph["stale_files"] = [name for name in graph["files"] if name in stale]
        return {
            "now": now,
            "host": host,
            "period": period,
            "files": files,
            "graphs": graphs,
            "problems": [p.as_json() for p in problems[:PAGE_PROBLEMS]],
        }

    def file(self, params: dict[str, str], host: str, file: str) -> dict[str, Any]:
        now = self.clock()
        path = self.tree.rrd_file(host, file)
        self._flush(host, file)
        data: dict[str, Any] = {"now": now, "host": host, "file": file}
        try:
            info = self.tree.info(path)
        except Unreadable as e:
            data.update(error=str(e), ds=[], rras=[], last_update=None, first_update=None)
            data.update(stale=False, step=None, stale_after=None)
        else:
            data.update(
                error=None,
                step=info.step,
                last_update=info.last_update,
                first_update=first_update(path, info),
                stale=self.tree.is_stale(info, now),
                stale_after=self.tree.stale_after(info),
                ds=[_ds_json(d) for d in info.ds],
                rras=[
                    {"cf": a.cf, "pdp_per_row": a.pdp_per_row, "rows": a.rows}
                    | {"resolution": a.resolution, "span": a.span}
                    for a in info.rras
                ],
            )
        graphs = [g for g in self._plan(host) if file in g.files]
        data["graphs"] = [self._graph_json(host, g, tuple(PERIODS)) for g in graphs]
        data["problems"] = [
            p.as_json() for p in self.problems.recent() if p.host == host and p.file == file
        ]
        return data

    def problem_list(self, params: dict[str, str]) -> dict[str, Any]:
        now = self.clock()
        host, kind = params.get("host", ""), params.get("kind", "")
        try:
            limit = max(0, int(params.get("limit", PAGE_PROBLEMS)))
        except ValueError:
            limit = PAGE_PROBLEMS
        problems = self.problems.recent()
        selected = [
            p for p in problems if (not host or p.host == host) and (not kind or p.kind == kind)
        ]
        stale = []
        if kind in ("", "stale"):
            for name in [host] if host else self.tree.hosts():
                try:
                    files = self._files(name, now)
                except NotFound:
                    continue
                stale += [{"host": name, **f} for f in files if f["stale"] or f["error"]]
        stale.sort(key=lambda f: (f["last_update"] or 0, f["host"], f["name"]))
        return {
            "now": now,
            "host": host,
            "kind": kind,
            "state_dir": str(self.settings.state_dir) if self.settings.state_dir else None,
            "sources": self.problems.sources,
            "held": len(problems),
            "matching": len(selected),
            "problems": [p.as_json() for p in selected[:limit]],
            "stale": stale,
            "counts": dict(Counter(p.kind for p in selected)),
        }

    def _flush(self, host: str, file: str | None = None) -> None:
        """Have every running rrdd write what it holds for the host (or file); never fails."""
        if self.settings.tmpdir is None:
            return
        try:
            request_flush(self.settings.tmpdir, host, file, FLUSH_SECONDS)
        except (ConfigError, StartError, OSError) as e:
            log.debug("No flush for %s: %s", host, e)

    # Graphs.

    def graph(self, params: dict[str, str], host: str) -> Response:
        period = params.get("period", "4h")
        wanted = params.get("id", "")
        found = [g for g in self._plan(host) if g.id == wanted]
        if period not in PERIODS or not found:
            return not_found()
        graph = found[0]
        if graph.problems:
            text = f"cannot draw {graph.id}: {'; '.join(graph.problems)}\n"
            return Response("409 Conflict", "text/plain; charset=utf-8", text.encode())
        try:
            info = draw(graph, host, period, self.clock())
        except GraphError as e:
            log.warning("%s/%s: librrd cannot draw it: %s", host, graph.id, e)
            text = f"librrd cannot draw {graph.id}: {e}\n"
            return Response("500 Internal Server Error", "text/plain; charset=utf-8", text.encode())
        image = info["image"]
        assert isinstance(image, bytes)
        return Response("200 OK", "image/png", image, (("Cache-Control", "max-age=60"),))

    def _plan(self, host: str) -> list[Graph]:
        directory = self.tree.host_dir(host)
        files = list(self.tree.files(host))
        path = self.settings.graphscfg
        sections = read_graphs_cfg(path) if path else {}
        return plan(directory, files, sections, self.settings.graphs, self._ds_of(host))

    def _ds_of(self, host: str) -> Callable[[str], tuple[str, ...] | None]:
        def ds_of(name: str) -> tuple[str, ...] | None:
            try:
                return tuple(d.name for d in self.tree.info(self.tree.rrd_file(host, name)).ds)
            except (NotFound, Unreadable):
                return None

        return ds_of

    def _graph_json(self, host: str, graph: Graph, periods: tuple[str, ...]) -> dict[str, Any]:
        base = f"/host/{quote(host, safe='')}/graph?id={quote(graph.id, safe='')}"
        return {
            "id": graph.id,
            "title": graph.title,
            "section": graph.section,
            "defined_at": graph.where,
            "files": list(graph.files),
            "problems": list(graph.problems),
            "png": {p: f"{base}&period={p}" for p in periods} if not graph.problems else {},
        }

    def _files(self, host: str, now: float) -> list[dict[str, Any]]:
        rows = []
        for name, path in self.tree.files(host).items():
            row: dict[str, Any] = {"name": name, "last_update": None, "age": None}
            try:
                info = self.tree.info(path)
            except Unreadable as e:
                row.update(stale=False, error=str(e) or "cannot be read", ds=[])
            else:
                row.update(_file_json(info, now), stale=self.tree.is_stale(info, now), error=None)
            rows.append(row)
        return rows


def _file_json(info: RrdInfo, now: float) -> dict[str, Any]:
    return {
        "last_update": info.last_update,
        "age": now - info.last_update,
        "step": info.step,
        "ds": [_ds_json(d) for d in info.ds],
    }


def _ds_json(ds: DataSource) -> dict[str, Any]:
    return {
        "name": ds.name,
        "type": ds.type,
        "heartbeat": ds.heartbeat,
        "min": ds.min,
        "max": ds.max,
        "last": ds.last,
    }


def _attention(row: dict[str, Any]) -> int:
    """How much on a host row wants looking at; the hosts page puts the most first."""
    counts = (row["problems"], row["stale_files"], row["unreadable_files"], row["files"] == 0)
    return sum(int(c) for c in counts)


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    names = {}
    for want, got in zip(pattern, segments, strict=True):
        if want in (HOST, FILE):
            names[want[1:-1]] = got
        elif want != got:
            return None
    return names


def not_found() -> Response:
    return Response("404 Not Found", "text/plain", b"not found\n")


def json_response(data: dict[str, Any]) -> Response:
    body = json.dumps(data, indent=1, allow_nan=False).encode()
    return Response("200 OK", "application/json", body, (("Cache-Control", "no-store"),))


def api_description() -> dict[str, Any]:
    """What GET /api answers: every endpoint, its parameters and what it returns."""
    return {
        "endpoints": [
            {
                "path": "/api/hosts",
                "params": {"q": "only hosts whose name contains this (caseless)"},
                "returns": "every host: files, last_update, age, stale_files, "
                "unreadable_files, problems (of the last recent_seconds), directory; "
                "the hosts that want attention first",
            },
            {
                "path": "/api/host/HOST",
                "params": {"period": "one of " + ", ".join(PERIODS)},
                "returns": "the host's files (DS, last update, stale, problems), its graphs "
                "(graphs.cfg section or automatic, files, problems, PNG URL) and problems",
            },
            {
                "path": "/api/host/HOST/file/FILE",
                "params": {},
                "returns": "the file's step, DS (type, heartbeat, min, max, last value), "
                "RRAs, first_update, last_update, stale, graphs and problems",
            },
            {
                "path": "/api/problems",
                "params": {
                    "host": "only this host",
                    "kind": "only this kind: " + ", ".join([*KINDS, "stale"]),
                    "limit": f"at most this many problems (default {PAGE_PROBLEMS})",
                },
                "returns": "what rrdd refused, newest first (time, pid, host, test, file, "
                "kind, reason, excerpt), the stale and unreadable files, and the files read",
            },
            {
                "path": "/host/HOST/graph",
                "params": {"id": "a graph's id from /api/host/HOST", "period": "as above"},
                "returns": "the graph as a PNG drawn by librrd",
            },
        ],
        "times": "Unix seconds; ages in seconds",
        "manual": "rrdd(8), WEB",
    }


def age(seconds: float | None) -> str:
    """A short age: "42 s", "5 min", "3.2 h", "12 days"."""
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def ago(seconds: float | None) -> str:
    """ "5 min ago", or "never", or "in the future" for a clock ahead of this one."""
    if seconds is None:
        return "never"
    if seconds < 0:
        return "in the future"
    return f"{age(seconds)} ago"


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
