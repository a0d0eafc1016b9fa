"""End to end: `rrdd web` on a tree the real rrdd wrote, looked at with headless Chromium.

One tree, one web server and one browser for the module. The tree comes from golden
messages of tests/data, re-timed to the last two hours so that the 4-hour graphs have
lines in them; db1's messages are three days old, so its files are stale. Screenshots of
every page go to .artifacts/web/ (printed at the end of the run).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from rrdd.settings import DEFAULT_TEST2RRD
from tests.conftest import SCREENSHOTS
from tests.helpers import count_colour, wait_until

RRDD = str(Path(sys.executable).with_name("rrdd"))
ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
WEB1, DB1, GHOST = "web1.example.com", "db1.example.com", "ghost.example.com"
REFUSED = "illegal attempt to update using time 1796604000 when last update time is 1796604300"


def first_message(
    path: Path, host: str, seq: int, ts: int, edits: dict[str, str] | None = None
) -> str:
    """The first message of a golden file, sent by `host` at `ts`, with regex `edits`."""
    text = path.read_text()
    text = text[: text.index("\n@@\n") + 4]
    old = re.match(r"@@\w+#\d+/([^|]+)\|(\d+)", text)
    assert old, path
    text = text.replace(old[1], host).replace(old[1].replace(".", ","), host.replace(".", ","))
    text = re.sub(r"#\d+/", f"#{seq}/", text, count=1).replace(old[2], str(ts))
    for pattern, value in (edits or {}).items():
        text = re.sub(pattern, value, text)
    return text


def stream(now: int) -> str:
    messages = []
    seq = 0
    for k in range(24, -1, -1):  # every 5 minutes for two hours, up to now
        ts = now - 300 * k
        load = f"load={0.4 + (k % 6) * 0.3:.2f}"
        for name, extra in (
            ("la/linux.msg", {r"load=[\d.]+": load}),
            ("memory/linux.msg", {}),
            ("disk/linux-dfPk.msg", {}),
            ("vmstat/linux-procps4.msg", {}),
            ("ncv/typed-ncv.msg", {r"conns : 10": f"conns : {10 + k % 4 * 5}"}),
        ):
            seq += 1
            messages.append(first_message(DATA / name, WEB1, seq, ts - seq % 5, extra))
        seq += 1
        old = now - 3 * 86400 - 300 * k
        messages.append(first_message(DATA / "la/linux.msg", DB1, seq, old))
    return "".join(messages)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Site:
    def __init__(self, base: str, rrddir: Path, state: Path, shots: Path) -> None:
        self.base, self.rrddir, self.state, self.shots = base, rrddir, state, shots

    def get(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a raw path, sent as it is (no normalising)."""
        conn = http.client.HTTPConnection(self.base.split("//")[1], timeout=20)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        status, kind, body = self.get(path)
        assert status == 200 and kind == "application/json", (path, status, body[:200])
        return json.loads(body)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    tmp = Path(tempfile.mkdtemp(prefix="rrdd-web-"))
    rrddir, state = tmp / "rrd", tmp / "state"
    rrddir.mkdir()
    state.mkdir()
    now = int(time.time())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XYMON", "NCV_", "TEST2"))}
    env.update(TEST2RRD=f"{DEFAULT_TEST2RRD},myapp=ncv", NCV_myapp="conns:GAUGE,*:GAUGE")
    p = subprocess.run(
        [RRDD, f"--rrddir={rrddir}"],
        input=stream(now),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    # What the web must not show or open: rrdd's own hidden directory, links out of the tree.
    (rrddir / ".renamed/old.example.com").mkdir(parents=True)
    (rrddir / "outside").symlink_to("/etc")
    (rrddir / WEB1 / "passwd.rrd").symlink_to("/etc/passwd")
    write_problems(state, now)

    shots = ROOT / ".artifacts/web"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    request.config.stash[SCREENSHOTS] = shots
    try:
        with web_server(rrddir, env, f"--state-dir={state}") as base:
            yield Site(base, rrddir, state, shots)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def web_server(rrddir: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """`rrdd web` on the tree, with graphs.cfg of tests/data/web: its base URL."""
    port = free_port()
    web = subprocess.Popen(
        [
            RRDD,
            "web",
            f"--rrddir={rrddir}",
            f"--listen=127.0.0.1:{port}",
            f"--graphscfg={DATA / 'web/graphs.cfg'}",
            *args,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base) or web.poll() is not None)
        assert web.poll() is None, web.communicate()[1]
        yield base
    finally:
        web.send_signal(signal.SIGINT)
        try:
            web.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            web.kill()
            web.communicate()


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def write_problems(state: Path, now: int) -> None:
    """Problems files in the documented format: two processes, one rotated, a bad line."""
    rejected = {
        "time": now - 60.5,
        "pid": 4242,
        "host": WEB1,
        "test": "cpu",
        "file": "la.rrd",
        "kind": "rejected",
        "reason": REFUSED,
        "excerpt": "status web1,example,com.cpu green <load=0.52>",
    }
    parse_error = rejected | {
        "time": now - 120.0,
        "pid": 4243,
        "host": GHOST,
        "test": "disk",
        "file": "",
        "kind": "parse_error",
        "reason": "no Filesystem header line",
        "excerpt": "status ghost,example,com.disk red nothing here",
    }
    (state / "problems.4242.jsonl").write_text(
        json.dumps(rejected) + "\nnot json at all\n" + '{"time": "yesterday"}\n'
    )
    (state / "problems.4243.jsonl.1").write_text(json.dumps(parse_error) + "\n")
    (state / "unrelated.jsonl").write_text(json.dumps(rejected | {"reason": "not read"}) + "\n")


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[webdriver.Remote]:
    # Chromium and chromedriver are started here and speak over 127.0.0.1: both would
    # otherwise reach each other at "localhost", which a new Debian root without
    # /etc/hosts cannot resolve ("unable to connect to renderer").
    profile = tempfile.mkdtemp(prefix="rrdd-web-chromium-")
    debugging, driving = free_port(), free_port()
    chromium = subprocess.Popen(
        [
            "/usr/bin/chromium",
            *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
            *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
            f"--user-data-dir={profile}",
            "--window-size=1280,1000",
            "--remote-debugging-address=127.0.0.1",
            f"--remote-debugging-port={debugging}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service = subprocess.Popen(
        ["/usr/bin/chromedriver", f"--port={driving}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _listening(debugging) and _listening(driving))
        options = webdriver.ChromeOptions()
        options.debugger_address = f"127.0.0.1:{debugging}"
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{driving}", options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        for process in (service, chromium):
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def open_page(browser: webdriver.Remote, site: Site, path: str, shot: str) -> str:
    """Open the page, wait for its images, keep a full-page screenshot; its text."""
    browser.get(site.base + path)
    wait_until(lambda: browser.execute_script("return document.readyState") == "complete")
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(max(height + 40, 600), 6000))
    browser.save_screenshot(str(site.shots / f"{shot}.png"))
    return str(browser.find_element(By.TAG_NAME, "body").text)


def test_the_hosts_page_lists_the_hosts_those_wanting_attention_first(
    site: Site, browser: webdriver.Remote
) -> None:
    text = open_page(browser, site, "/", "hosts")
    rows = browser.find_elements(By.CSS_SELECTOR, "#hosts tr.host")
    hosts = [r.get_attribute("data-host") for r in rows]
    # db1's four files are stale; ghost has a problem and no directory; web1 has a problem
    assert hosts == [DB1, GHOST, WEB1]
    assert "old.example.com" not in text and "outside" not in hosts
    assert "no RRD directory" in text
    db1 = rows[hosts.index(DB1)].text
    assert "stale" in db1
    assert all("attention" in (r.get_attribute("class") or "") for r in rows)
    open_page(browser, site, "/?q=DB1", "hosts-filtered")
    shown = browser.find_elements(By.CSS_SELECTOR, "#hosts tr.host")
    assert [r.get_attribute("data-host") for r in shown] == [DB1]

    api = site.json("/api/hosts")
    by_host = {h["host"]: h for h in api["hosts"]}
    assert [h["host"] for h in api["hosts"]] == hosts
    assert by_host[DB1]["stale_files"] == by_host[DB1]["files"] > 0
    assert by_host[WEB1]["stale_files"] == 0 and by_host[WEB1]["problems"] == 1
    assert by_host[GHOST] | {"problems": 1, "directory": False} == by_host[GHOST]
    assert by_host[WEB1]["files"] == len(os.listdir(site.rrddir / WEB1)) - 1  # not passwd.rrd


def test_the_host_page_draws_its_graphs_as_graphs_cfg_says_or_automatically(
    site: Site, browser: webdriver.Remote
) -> None:
    text = open_page(browser, site, f"/host/{WEB1}", "host")
    browser.set_window_size(1000, 1100)  # the top of the page, as extras/web-host.png shows
    browser.save_screenshot(str(site.shots / "host-top.png"))
    images = browser.find_elements(By.CSS_SELECTOR, "figure.graph img")
    assert images
    for image in images:  # every graph the page shows arrived as an image
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 500
    alts = [i.get_attribute("alt") for i in images]
    assert f"{WEB1} Test CPU Load" in alts  # the later [la] of graphs.cfg
    assert "graphs.cfg [la]" in text and "graphs.cfg [memory]" in text
    assert "automatic: a line for each data source" in text
    assert "has no data source 'cpu_nope'" in text  # [vmstat] cannot be drawn ...
    api = site.json(f"/api/host/{WEB1}")
    graphs = {g["id"]: g for g in api["graphs"]}
    assert graphs["vmstat"]["problems"] and not graphs["vmstat"]["png"]
    assert "auto:vmstat.rrd" in graphs  # ... so vmstat.rrd gets an automatic graph
    assert graphs["users"]["files"] == ["procs.rrd", "users.rrd"]
    assert graphs["clock"]["defined_at"].endswith("graphs.d/clock.cfg:1")
    assert graphs["disk"]["section"] == "disk" and "disk,root.rrd" in graphs["disk"]["files"]
    assert not any(f.startswith(("la.", "memory.", "disk,")) for f in _auto_files(graphs))
    assert _auto_files(graphs) == {"vmstat.rrd", "myapp.rrd"}

    # The PNGs have lines in them: graphs.cfg's own colour for [la], the first of
    # showgraph's colours for the automatic graph of the NCV file. The legend's swatch
    # alone is a few dozen pixels of that colour, as db1's empty 4-hour graph shows.
    la = _png(site, graphs["la"]["png"]["4h"])
    myapp = _png(site, graphs["auto:myapp.rrd"]["png"]["4h"])
    assert count_colour(la, "D00DAD") > 300
    assert count_colour(myapp, "0000FF") > 300
    stale = site.json(f"/api/host/{DB1}")
    assert {g["id"]: g for g in stale["graphs"]}["la"]["stale_files"] == ["la.rrd"]
    assert all(g["stale_files"] == [] for g in graphs.values())
    empty = _png(site, {g["id"]: g for g in stale["graphs"]}["la"]["png"]["4h"])
    assert 0 < count_colour(empty, "D00DAD") < 100


def _auto_files(graphs: dict[str, Any]) -> set[str]:
    return {f for g in graphs.values() if g["section"] is None for f in g["files"]}


def _png(site: Site, url: str) -> bytes:
    status, kind, body = site.get(url)
    assert status == 200 and kind == "image/png", (url, status, body[:200])
    return body


def test_a_problem_rrdd_recorded_shows_with_its_reason_and_excerpt(
    site: Site, browser: webdriver.Remote
) -> None:
    text = open_page(browser, site, "/problems", "problems")
    assert REFUSED in text and "<load=0.52>" in text  # autoescaped, shown as it came
    assert "no Filesystem header line" in text and GHOST in text
    assert "not read" not in text  # not a problems.<pid>.jsonl file
    assert DB1 in browser.find_element(By.ID, "stale").text

    api = site.json("/api/problems")
    assert [(p["host"], p["kind"], p["reason"]) for p in api["problems"]] == [
        (WEB1, "rejected", REFUSED),
        (GHOST, "parse_error", "no Filesystem header line"),
    ]
    assert sorted(api["sources"]) == ["problems.4242.jsonl", "problems.4243.jsonl.1"]
    assert {(f["host"], f["name"]) for f in api["stale"]} == {
        (DB1, name) for name in os.listdir(site.rrddir / DB1)
    }
    only = site.json("/api/problems?kind=rejected&host=" + WEB1)
    assert [p["file"] for p in only["problems"]] == ["la.rrd"] and only["stale"] == []

    text = open_page(browser, site, f"/host/{WEB1}/file/la.rrd", "file")
    assert REFUSED in text and "Oldest value held" in text
    file = site.json(f"/api/host/{WEB1}/file/la.rrd")
    assert [d["name"] for d in file["ds"]] == ["la"] and file["step"] == 300
    assert [p["reason"] for p in file["problems"]] == [REFUSED]
    assert file["stale"] is False and file["last_update"] <= time.time()
    assert file["first_update"] < file["last_update"]
    assert [g["id"] for g in file["graphs"]] == ["la"]
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph img")) == 4  # every period


def test_the_api_describes_itself(site: Site) -> None:
    paths = [e["path"] for e in site.json("/api")["endpoints"]]
    assert {"/api/hosts", "/api/host/HOST", "/api/host/HOST/file/FILE", "/api/problems"} <= set(
        paths
    )


@pytest.mark.parametrize(
    "path",
    [
        "/host/..",
        "/host/../..",
        "/host/%2e%2e",
        "/host/.",
        f"/host/{WEB1}%2F..%2F..",
        f"/host/{WEB1}/file/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/host/{WEB1}/file/../../../etc/passwd",
        f"/host/{WEB1}/file/passwd.rrd",  # a symlink to /etc/passwd
        "/host/outside",  # a symlink to /etc
        "/host/outside/file/passwd",
        "/host/.renamed",
        "/host/%00",
        f"/host/{WEB1}/file/la.rrd%00",
        "/host/" + "a" * 300,
        f"/host/{WEB1}/file/" + "b" * 5000 + ".rrd",
        f"/host/{WEB1}/graph?id=auto:passwd.rrd",
        f"/host/{WEB1}/graph?id=la&period=..%2F..",
        "/api/host/..%2F..",
        f"/api/host/{WEB1}/file/%2Fetc%2Fpasswd",
        "/host/%ff",
        "/nothing",
    ],
)
def test_hostile_urls_get_a_404(site: Site, path: str) -> None:
    status, _, body = site.get(path)
    assert status == 404 and b"root:" not in body


def test_a_name_with_url_characters_is_quoted_and_found(site: Site) -> None:
    host = site.json(f"/api/host/{quote(WEB1)}")
    assert host["host"] == WEB1
    status, _, _ = site.get(f"/host/{WEB1}/file/{quote('disk,root.rrd', safe='')}")
    assert status == 200


def test_values_librrd_refused_in_both_channels_show_together_on_the_problems_page(
    site: Site, browser: webdriver.Remote, tmp_path: Path
) -> None:
    """The stock set-up: two rrdd, the status and the data channel's, with one XYMONTMP,
    so one state_dir. Each is given a value its DERIVE data source cannot take, which
    librrd refuses; rrdd web, with the same environment, shows both while they run."""
    rrddir, xymontmp = tmp_path / "rrd", tmp_path / "tmp"
    rrddir.mkdir()
    xymontmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XYMON", "NCV_", "TEST2"))}
    env.update(
        XYMONTMP=str(xymontmp),
        TEST2RRD=f"{DEFAULT_TEST2RRD},myapp=ncv",
        NCV_myapp="requests:DERIVE,*:GAUGE",
    )
    now = int(time.time())
    channels = {
        "status": f"@@status#1/{WEB1}|{now}.5|192.0.2.10||{WEB1}|myapp|{now + 1800}|green||"
        f"green|0|0||0||{now}|linux|p|0|\nstatus web1,example,com.myapp green up\n"
        "requests = 12.5\nconns : 3\n@@\n",
        "data": f"@@data#1/{DB1}|{now}.5|192.0.2.11||{DB1}|myapp|linux|p\n"
        "data db1,example,com.myapp\nrequests = 1e3\n@@\n",
    }
    rrdds = {
        name: subprocess.Popen(
            [RRDD, f"--rrddir={rrddir}", "--no-cache"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in channels
    }
    try:
        for name, p in rrdds.items():
            assert p.stdin is not None
            p.stdin.write(channels[name])
            p.stdin.flush()
        state = xymontmp / "rrdd"
        journals = {f"problems.{p.pid}.jsonl" for p in rrdds.values()}
        wait_until(lambda: state.is_dir() and journals <= set(os.listdir(state)))
        with web_server(rrddir, env) as base:  # state_dir: $XYMONTMP/rrdd, as rrdd's
            here = Site(base, rrddir, state, site.shots)
            text = open_page(browser, here, "/problems", "problems-two-channels")
            assert "not a simple signed integer: '12.5'" in text
            assert "not a simple signed integer: '1e3'" in text
            api = here.json("/api/problems")
            assert sorted(api["sources"]) == sorted(journals)
            found = {(p["pid"], p["host"], p["file"], p["kind"]) for p in api["problems"]}
            assert found == {
                (rrdds["status"].pid, WEB1, "myapp.rrd", "rejected"),
                (rrdds["data"].pid, DB1, "myapp.rrd", "rejected"),
            }
            assert all(p["test"] == "myapp" for p in api["problems"])
    finally:
        for p in rrdds.values():
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert "updates_rejected 1" in err  # the Totals line
