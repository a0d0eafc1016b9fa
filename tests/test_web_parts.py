"""The parts of `rrdd web` one by one: graphs.cfg and GRAPHS, problems files, the tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rrdtool

from rrdd.settings import DEFAULT_GRAPHS, load_settings
from rrdd.web.app import WebApp
from rrdd.web.graphs import automatic, draw, parse_graphs, plan, read_graphs_cfg
from rrdd.web.problems import ProblemLog, parse_line
from rrdd.web.tree import NotFound, Tree, cache_allowance
from tests.helpers import T0, count_colour, wait_until
from tests.test_cli import cpu, start

RRDD = str(Path(sys.executable).with_name("rrdd"))
DISK = """[disk]
\tFNPATTERN ^disk(.*).rrd
\tTITLE Disk Utilization
\tYAXIS % Full
\tDEF:p@RRDIDX@=@RRDFN@:pct:AVERAGE
\tLINE2:p@RRDIDX@#@COLOR@:@RRDPARAM@
"""


def pct(name: str) -> tuple[str, ...]:
    return ("pct", "used")


def test_an_fnpattern_section_draws_every_file_it_finds_five_at_most_per_graph(
    tmp_path: Path,
) -> None:
    files = sorted(["disk,root.rrd", *(f"disk,d{n}.rrd" for n in range(11))])
    graphs = plan(tmp_path, files, read_graphs_cfg(_write(tmp_path, DISK)), DEFAULT_GRAPHS, pct)
    assert [g.id for g in graphs] == ["disk:1", "disk:2", "disk:3"]
    assert [len(g.files) for g in graphs] == [4, 4, 4]
    first = graphs[0].args
    # showgraph's order (the pattern's group), its colours, "/" for ",", the root as "/"
    assert first[:2] == (f"DEF:p0={tmp_path}/disk,root.rrd:pct:AVERAGE", "LINE2:p0#0000FF:/   ")
    assert first[3] == "LINE2:p1#FF0000:/d0 "
    assert graphs[1].args[0] == f"DEF:p4={tmp_path}/disk,d2.rrd:pct:AVERAGE"  # by text: d10 < d2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "graphs.cfg"
    path.write_text(text)
    return path


def test_graphs_names_the_section_tcp_http_is_http_and_a_test_falls_back_to_its_name(
    tmp_path: Path,
) -> None:
    cfg = (
        "[tcp]\n FNPATTERN ^tcp.(.+).rrd\n EXFNPATTERN ^tcp.http\n"
        " DEF:a@RRDIDX@=@RRDFN@:sec:AVERAGE\n"
        "[http]\n FNPATTERN ^tcp.http.(.+).rrd\n DEF:h@RRDIDX@=@RRDFN@:sec:AVERAGE\n"
        "[myapp]\n TITLE My app\n DEF:c=myapp.rrd:conns:AVERAGE\n"
        "[http]\n TITLE exec:/usr/local/bin/graphtitle\n FNPATTERN ^tcp.http.(.+).rrd\n"
        " DEF:h@RRDIDX@=@RRDFN@:sec:AVERAGE\n"
        "[la-multi]\n DEF:x=la.rrd:la:AVERAGE\n"
    )
    files = ["la.rrd", "myapp.rrd", "tcp.conn.rrd", "tcp.http.www,example,com.rrd"]
    ds = {"myapp.rrd": ("conns",), "la.rrd": ("la",)}
    graphs = plan(
        tmp_path,
        files,
        read_graphs_cfg(_write(tmp_path, cfg)),
        DEFAULT_GRAPHS,
        lambda n: ds.get(n, ("sec",)),
    )
    by_id = {g.id: g for g in graphs}
    assert list(by_id) == ["http", "tcp", "myapp", "auto:la.rrd"]  # GRAPHS order, then tests
    assert by_id["http"].files == ("tcp.http.www,example,com.rrd",)
    assert by_id["tcp"].files == ("tcp.conn.rrd",)
    assert by_id["myapp"].title == "My app" and by_id["http"].title == "http"  # no exec
    assert [a.split("#")[0] for a in by_id["auto:la.rrd"].args if a.startswith("LINE")] == [
        "LINE2:v0"
    ]
    assert parse_graphs("la,mrtg::1,devmon:part:3") == [("la", 0), ("mrtg", 1), ("devmon", 3)]


def test_a_def_outside_the_host_or_a_missing_ds_makes_a_graph_that_cannot_be_drawn(
    tmp_path: Path,
) -> None:
    cfg = (
        "[la]\n DEF:a=../other/la.rrd:la:AVERAGE\n"
        "[users]\n DEF:p=procs.rrd:la:AVERAGE\n DEF:u=users.rrd:la:AVERAGE\n"
        "[clock]\n DEF:o=clock.rrd:offset:AVERAGE\n"
    )
    files = ["clock.rrd", "la.rrd", "users.rrd"]
    graphs = plan(
        tmp_path, files, read_graphs_cfg(_write(tmp_path, cfg)), DEFAULT_GRAPHS, lambda n: ("la",)
    )
    problems = {g.id: g.problems for g in graphs}
    assert problems["la"] == ("it needs ../other/la.rrd, which this host does not have",)
    assert problems["users"] == ("it needs procs.rrd, which this host does not have",)
    assert problems["clock"] == ("clock.rrd has no data source 'offset'",)
    # Each file of a graph that cannot be drawn gets an automatic one.
    assert {g.id for g in graphs if g.section is None} == {f"auto:{f}" for f in files}


def test_include_and_directory_are_read_and_a_later_section_wins(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/b.cfg").write_text("[b]\n TITLE from the directory\n")
    (tmp_path / "d/.hidden.cfg").write_text("[hidden]\n")
    (tmp_path / "more.cfg").write_text("[a]\n TITLE second\n YAXIS y\n GRAPHOPTIONS -l 0\n")
    main = _write(
        tmp_path,
        "# comment\n[a]\n TITLE first\n\tNOVZOOM\ninclude more.cfg\ninclude gone.cfg\n"
        "directory d\n",
    )
    found = read_graphs_cfg(main)
    assert sorted(found) == ["a", "b"]
    assert (found["a"].title, found["a"].yaxis, found["a"].options) == ("second", "y", ["-l", "0"])
    assert found["a"].where == f"{tmp_path}/more.cfg:1"
    assert found["b"].title == "from the directory"
    assert read_graphs_cfg(tmp_path / "none.cfg") == {}


def test_the_debian_xymon_graphs_cfg_format_reads(tmp_path: Path) -> None:
    """A few sections as Xymon ships them, tabs, continuation-free GPRINTs and all."""
    text = (
        "[la]\n\tTITLE CPU Load\n\tYAXIS Load\n\tDEF:avg=la.rrd:la:AVERAGE\n"
        "\tCDEF:la=avg,100,/\n\tAREA:la#00CC00:CPU Load Average\n\t-u 1.0\n"
        "\tGPRINT:la:LAST: \\: %5.1lf (cur)\n"
        "[la-multi]\n\tFNPATTERN la.rrd\n\tDEF:avg@RRDIDX@=@RRDFN@:la:AVERAGE\n"
    )
    la = read_graphs_cfg(_write(tmp_path, text))["la"]
    assert la.lines[-1] == "GPRINT:la:LAST: \\: %5.1lf (cur)" and la.lines[3] == "-u 1.0"


def test_an_automatic_graph_has_a_line_of_data(tmp_path: Path) -> None:
    path = tmp_path / "myapp.rrd"
    now = int(time.time())
    rrdtool.create(
        str(path),
        "-s",
        "300",
        "-b",
        str(now - 7200),
        "DS:conns:GAUGE:600:U:U",
        "DS:errors:GAUGE:600:U:U",
        "RRA:AVERAGE:0.5:1:576",
    )
    for t in range(now - 7200 + 300, now, 300):
        rrdtool.update(str(path), f"{t}:{t % 7}:1")
    graph = automatic(tmp_path, "myapp.rrd", lambda n: ("conns", "errors"))
    image = draw(graph, "h1", "4h", now)["image"]
    assert isinstance(image, bytes)
    assert count_colour(image, "0000FF") > 300 and count_colour(image, "FF0000") > 300
    empty = tmp_path / "empty.rrd"
    rrdtool.create(str(empty), "-s", "300", "DS:conns:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:576")
    blank = draw(automatic(tmp_path, "empty.rrd", lambda n: ("conns",)), "h1", "4h", now)
    assert isinstance(blank["image"], bytes) and count_colour(blank["image"], "0000FF") < 100


def problem(**fields: object) -> str:
    record: dict[str, object] = {
        "time": T0 + 0.5,
        "pid": 7,
        "host": "h1",
        "test": "cpu",
        "file": "la.rrd",
        "kind": "rejected",
        "reason": "r",
        "excerpt": "e",
    }
    return json.dumps(record | fields)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "[1, 2]",
        problem(time="yesterday"),
        problem(pid=True),
        problem(pid=1.5),
        problem(host=None),
        problem(kind=""),
        problem(reason=3),
    ],
)
def test_a_line_that_is_not_a_problem_is_skipped(line: str) -> None:
    assert parse_line(line.encode()) is None


def test_a_problem_line_parses_with_optional_fields_and_a_long_excerpt_cut() -> None:
    p = parse_line(problem(excerpt="x" * 1000, kind="something_new").encode())
    assert p is not None and len(p.excerpt) == 400 and p.kind == "something_new"
    bare = json.loads(problem())
    del bare["test"], bare["file"], bare["excerpt"]
    q = parse_line(json.dumps(bare).encode())
    assert q is not None and (q.test, q.file, q.excerpt) == ("", "", "")


def test_problems_are_read_newest_first_bounded_and_again_by_a_new_reader(tmp_path: Path) -> None:
    (tmp_path / "problems.1.jsonl.1").write_text(
        "".join(problem(time=T0 + n, reason=f"old {n}") + "\n" for n in range(50))
    )
    (tmp_path / "problems.2.jsonl").write_text(
        "".join(problem(time=T0 + 100 + n, reason=f"new {n}") + "\n" for n in range(50))
    )
    os.utime(tmp_path / "problems.1.jsonl.1", (T0, T0))
    (tmp_path / "problems.x.jsonl").write_text(problem(reason="not a pid") + "\n")
    log = ProblemLog(tmp_path, max_problems=60)
    found = log.recent()
    assert len(found) == 60 and found[0].reason == "new 49" and found[-1].reason == "old 40"
    assert ProblemLog(tmp_path, max_problems=60).recent() == found  # a restarted web
    line = len(problem(time=T0 + 100, reason="new 10")) + 1
    tail = ProblemLog(tmp_path, max_bytes=line * 5 + line // 2).recent()
    assert [p.reason for p in tail] == [f"new {n}" for n in range(49, 44, -1)]
    with open(tmp_path / "problems.2.jsonl", "a") as f:
        f.write(problem(time=T0 + 1000, reason="newest") + "\n")
    assert log.recent()[0].reason == "newest"  # a changed file is read again
    assert ProblemLog(None).recent() == [] and ProblemLog(tmp_path / "none").recent() == []


def test_the_tree_keeps_to_the_rrd_directory(tmp_path: Path) -> None:
    rrddir = tmp_path / "rrd"
    (rrddir / "h1").mkdir(parents=True)
    (rrddir / ".renamed/h2").mkdir(parents=True)
    rrdtool.create(str(rrddir / "h1/la.rrd"), "DS:la:GAUGE:600:U:U", "RRA:AVERAGE:0.5:1:10")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret/x.rrd").write_text("secret")
    (rrddir / "alias").symlink_to("h1")  # inside: a host like any other
    (rrddir / "escape").symlink_to(tmp_path / "secret")
    (rrddir / "h1/x.rrd").symlink_to(tmp_path / "secret/x.rrd")
    (rrddir / "h1/notes.txt").write_text("")
    (rrddir / "h1/sub.rrd").mkdir()
    tree = Tree(rrddir, 0)
    assert tree.hosts() == ["alias", "h1"]
    assert list(tree.files("h1")) == ["la.rrd"] == list(tree.files("alias"))
    for host, name in [
        ("escape", "x.rrd"),
        ("h1", "x.rrd"),
        ("h1", "notes.txt"),
        ("h1", "sub.rrd"),
        (".renamed", "x.rrd"),
        ("..", "rrd"),
        ("h1", ".."),
    ]:
        with pytest.raises(NotFound):
            tree.rrd_file(host, name)
    with pytest.raises(NotFound):
        tree.host_dir("escape")
    info = tree.info(tree.rrd_file("h1", "la.rrd"))
    assert [d.name for d in info.ds] == ["la"] and info.step == 300
    assert tree.is_stale(info, info.last_update + 601) and not tree.is_stale(
        info, info.last_update + 600
    )
    assert Tree(rrddir, cache_allowance(True, 100)).stale_after(info) == 720
    assert cache_allowance(False, 100) == 0


def test_the_web_settings_come_from_xymon_s_environment_and_the_command_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/graphs.cfg").write_text("")
    env = {"XYMONRRDS": "/r", "XYMONTMP": "/x/tmp", "XYMONHOME": str(tmp_path), "GRAPHS": "la"}
    s = load_settings({}, env)
    assert s.state_dir == Path("/x/tmp/rrdd") and s.graphscfg == tmp_path / "etc/graphs.cfg"
    assert (s.graphs, s.web_listen) == ("la", "127.0.0.1:8468")
    s = load_settings({"state_dir": "/s", "listen": "[::1]:80", "graphscfg": "/g"}, env)
    assert (s.state_dir, s.web_listen, s.graphscfg) == (Path("/s"), "[::1]:80", Path("/g"))
    bare = load_settings({}, {"XYMONRRDS": "/r"})
    assert bare.state_dir is None and bare.graphscfg is None and bare.graphs == DEFAULT_GRAPHS


def test_rrdd_help_names_rrdd_web_and_a_missing_rrddir_stops_it(tmp_path: Path) -> None:
    out = subprocess.run([RRDD, "--help"], capture_output=True, text=True, check=True).stdout
    assert "rrdd web" in " ".join(out.split())
    p = subprocess.run(
        [RRDD, "web", f"--rrddir={tmp_path}/none"], capture_output=True, text=True, timeout=30
    )
    assert p.returncode == 1 and "does not exist" in p.stderr
    p = subprocess.run(
        [RRDD, "web", f"--rrddir={tmp_path}", "--listen=nowhere"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2 and "bad address" in p.stderr


def test_the_ingest_path_does_not_load_the_web() -> None:
    code = (
        "import sys, rrdd.cli, rrdd.daemon, rrdd.shards\n"
        "print(any(m.startswith(('rrdd.web', 'jinja2', 'waitress')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_host_page_has_rrdd_write_what_it_holds_first(tmp_path: Path) -> None:
    rrddir, tmpdir = tmp_path / "rrd", tmp_path / "tmp"
    rrddir.mkdir()
    tmpdir.mkdir()
    now = int(time.time())
    rrdd = start(rrddir, stderr=subprocess.DEVNULL, XYMONTMP=str(tmpdir))
    assert rrdd.stdin is not None
    try:
        rrdd.stdin.write(cpu(1, "h1", now, "0.52"))
        rrdd.stdin.flush()
        la = rrddir / "h1/la.rrd"
        wait_until(lambda: la.exists() and list(tmpdir.glob("rrdctl.*")))
        assert rrdtool.info(str(la))["last_update"] < now  # the value waits in rrdd's cache
        app = WebApp(load_settings({"rrddir": str(rrddir)}, {"XYMONTMP": str(tmpdir)}))
        response = app.respond({"REQUEST_METHOD": "GET", "PATH_INFO": "/api/host/h1"})
        assert response.status == "200 OK"
        files = {f["name"]: f for f in json.loads(response.body)["files"]}
        assert files["la.rrd"]["last_update"] == now
        assert files["la.rrd"]["ds"][0]["last"] == "52"
    finally:
        rrdd.stdin.close()
        rrdd.wait(timeout=30)


def test_only_get_and_head_are_served(tmp_path: Path) -> None:
    app = WebApp(load_settings({"rrddir": str(tmp_path)}, {}))
    post = app.respond({"REQUEST_METHOD": "POST", "PATH_INFO": "/api/hosts"})
    assert post.status.startswith("405")
    seen: list[str] = []
    body = app({"REQUEST_METHOD": "HEAD", "PATH_INFO": "/"}, lambda s, h: seen.append(s))
    assert seen == ["200 OK"] and list(body) == [b""]
