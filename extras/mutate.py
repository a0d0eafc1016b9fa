"""Mutation testing of rrdd's core modules with cosmic-ray; extras/mutate.sh runs it.

Why cosmic-ray and not mutmut: cosmic-ray writes each mutant into the source file itself,
so it reaches every process a test starts (the rrdd command, ``python -m rrdd``, the
create workers). mutmut 3 copies the tree into mutants/, picks the mutant inside
trampolines by an environment variable, and chooses the tests of a mutant from the calls
it saw in the pytest process: a mutant that only the end-to-end tests reach would be
counted as having no test.

How: the working tree (tracked and untracked files, not the ignored ones) is copied once
per worker into a temporary directory, so the tree one works in is never mutated. In
each copy a cosmic-ray HTTP worker runs with PYTHONPATH set to the copy, so the venv's
rrdd script and ``python -m rrdd`` import the copy's rrdd ahead of the editable install.
For each module, ``cosmic-ray init`` lists the mutants; this script marks as skipped the
ones it does not run (SKIP_OPERATORS, and mutations inside annotations, which are never
evaluated); ``cosmic-ray exec`` sends the rest to the workers, under a timeout.

Which tests a mutant runs: of the module's tests (TARGETS), those that run the line it
changes, in their order, stopping at the first failure. Each test file (or test) is run
once per invocation under coverage.py, which follows every Python process it starts or
forks; a mutant of a line no test runs survives without a test run. A test that does not
run a line cannot tell its mutant from the module, so the counts are those of running
every test, and a survivor costs a few tests instead of the module's whole suite.

A survivor that no test can kill is written down in extras/mutate-equivalents.toml with
the reason; it is counted as equivalent, not as surviving. The exit status is 1 when a
mutant survives that is not written down there.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import coverage
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)  # the venv's: its rrdd script is what the tests run
SESSIONS = ROOT / ".mutate"  # one cosmic-ray session (sqlite) and config per module
EQUIVALENTS = ROOT / "extras" / "mutate-equivalents.toml"


@dataclass(frozen=True)
class Target:
    path: str
    tests: tuple[str, ...]  # the closest and quickest first: pytest -x stops at a failure


# The writer's tests, the quickest first, then the end-to-end ones that run the rrdd
# command on a stream (drops, renames, flushes, reloads, creator processes, signals).
WRITER_TESTS = (
    "tests/test_writer_direct.py",
    "tests/test_schedule.py",
    "tests/test_table.py",
    "tests/test_writer_property.py",
    "tests/test_writer_control.py",
    "tests/test_property.py",
    "tests/test_hostile.py",
    "tests/test_disk.py",
    "tests/test_policy.py",
    *(
        f"tests/test_cli.py::test_{name}"
        for name in (
            "a_stream_becomes_rrd_files",
            "sigterm_writes_pending_values_and_exits",
            "shutdown_message_stops_reading",
            "drophost_renamehost_in_stream_order",
            "droptest_and_renametest_act_on_the_files_of_that_test",
            "no_rrd_creates_files_without_values",
            "a_flush_request_writes_a_hosts_cached_values_at_once",
            "metrics_move_as_a_stream_is_ingested",
            "root_is_dropped_to_the_configured_user",
            "reload_applies_a_changed_file_keeps_pending_values_and_survives_a_bad_one",
            "sighup_reads_rrddefinitions_protocols_and_snmpmibs_again",
            "a_stream_replayed_under_a_frozen_clock",
        )
    ),
    "tests/test_two_rrdd.py",
    "tests/test_rrdcached.py",
)


def writer(name: str, *first: str) -> Target:
    """A writer module's target: its closest tests first, then the rest of the writer's."""
    return Target(f"rrdd/writer/{name}.py", (*first, *(t for t in WRITER_TESTS if t not in first)))


TARGETS = {
    "channel": Target(
        "rrdd/channel.py",
        (
            "tests/test_channel.py",
            "tests/test_golden.py",
            "tests/test_property.py",
            "tests/test_cli.py::test_a_stream_becomes_rrd_files",
            "tests/test_cli.py::test_drophost_renamehost_in_stream_order",
            "tests/test_cli.py::test_droptest_and_renametest_act_on_the_files_of_that_test",
        ),
    ),
    "schema": Target(
        "rrdd/schema.py",
        (
            "tests/test_schema.py",
            "tests/test_dispatch.py",
            "tests/test_golden.py",
            "tests/test_registry.py",
            "tests/test_writer_direct.py",
            "tests/test_writer_control.py",
            "tests/test_hostile.py",
            "tests/test_processor.py",
            "tests/test_flush.py",
            "tests/test_property.py",
        ),
    ),
    "dispatch": Target(
        "rrdd/dispatch.py",
        (
            "tests/test_dispatch.py",
            "tests/test_golden.py",
            "tests/test_parser_snmpmib.py",
            "tests/test_parser_trends.py",
            "tests/test_property.py",
            "tests/test_external.py",
            "tests/test_cli.py::test_a_stream_becomes_rrd_files",
        ),
    ),
    "flush": Target(
        "rrdd/flush.py",
        (
            "tests/test_flush.py",
            "tests/test_cli.py::test_a_flush_request_writes_a_hosts_cached_values_at_once",
            "tests/test_cli.py::test_flush_with_no_rrdd_running",
        ),
    ),
    "rrdwriter": writer("rrdwriter", "tests/test_rrdwriter.py"),
    "table": writer("table", "tests/test_table.py"),
    "schedule": writer(
        "schedule", "tests/test_schedule.py", "tests/test_writer_direct.py", "tests/test_policy.py"
    ),
    "making": writer("making", "tests/test_making.py"),
    "marks": writer("marks", "tests/test_writer_control.py", "tests/test_two_rrdd.py"),
    "hosts": writer("hosts", "tests/test_writer_control.py", "tests/test_writer_direct.py"),
    "disk": writer("disk", "tests/test_disk.py"),
    "store": writer("store", "tests/test_store.py"),
    "rrdcached": writer("rrdcached", "tests/test_rrdcached.py"),
    "creator": writer("creator", "tests/test_creator.py"),
}

# Operators whose mutants are not run, as regular expressions over cosmic-ray's names.
# A binary operator is replaced by its nearest neighbours only (+ by - and *, | by &, ...):
# a test that tells + from - tells it from ** and ^ as well, and each of the ten
# replacements cosmic-ray makes would cost a test run. An ordering comparison replaced
# by "is" tests a small int's identity, which is its equality: the == mutant already.
_KEPT_BINARY = {
    "Add": "Sub|Mul",
    "Sub": "Add",
    "Mul": "Div|Add",
    "Div": "Mul|FloorDiv",
    "FloorDiv": "Div|Mul",
    "Mod": "FloorDiv|Mul",
    "Pow": "Mul",
    "LShift": "RShift",
    "RShift": "LShift",
    "BitOr": "BitAnd",
    "BitAnd": "BitOr",
    "BitXor": "BitOr",
}
SKIP_OPERATORS = [
    *(f"core/ReplaceBinaryOperator_{op}_(?!({kept})$)" for op, kept in _KEPT_BINARY.items()),
    "core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE)_(Is|IsNot)$",
    "core/ReplaceUnaryOperator_USub_(Invert|Not)$",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="extras/mutate.sh", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help=f"modules to mutate (default: all): {', '.join(TARGETS)}",
    )
    parser.add_argument("--workers", type=int, default=2, choices=(1, 2))
    parser.add_argument(
        "--timeout", type=float, help="seconds per mutant (default: 3 x the unmutated run + 30)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        dest="mode",
        action="store_const",
        const="resume",
        help="run only the mutants an interrupted run left",
    )
    mode.add_argument(
        "--again",
        dest="mode",
        action="store_const",
        const="again",
        help="run the survivors of the last run again (after new tests), keep the rest",
    )
    mode.add_argument(
        "--report",
        dest="mode",
        action="store_const",
        const="report",
        help="run nothing: the last run's figures, with the equivalents written down since",
    )
    parser.add_argument("--tests-for", metavar="FILE", help=argparse.SUPPRESS)  # the workers'
    args = parser.parse_args()
    if args.tests_for:
        return run_chosen_tests(Path(args.tests_for))
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    equivalents = load_equivalents()
    SESSIONS.mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the clean-up below still runs
    failed = False
    if args.mode == "report":
        for name in args.modules or TARGETS:
            if (SESSIONS / f"{name}.sqlite").exists():
                failed |= report(name, *classify(SESSIONS / f"{name}.sqlite"), equivalents)
        return 1 if failed else 0
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rrdd-mutate.")))
        copies = [copy_tree(scratch / f"w{i}") for i in range(args.workers)]
        urls = [start_worker(stack, copy) for copy in copies]
        for name in args.modules or TARGETS:
            counts, survivors = run_module(
                name, copies[0], urls, args.timeout, args.mode or "fresh"
            )
            failed |= report(name, counts, survivors, equivalents)
    return 1 if failed else 0


def copy_tree(dest: Path) -> Path:
    """The working tree as it is now, changes and new files included, without the ignored."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():  # a tracked file deleted in the working tree is not copied
            (dest / src.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / src.relative_to(ROOT))
    found = subprocess.run(
        [PYTHON, "-c", "import rrdd; print(rrdd.__file__)"],
        cwd="/",
        env=worker_env(dest),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if Path(found) != dest / "rrdd" / "__init__.py":
        sys.exit(f"mutate: a process started in the copy imports {found}, not the copy's rrdd")
    return dest


def worker_env(copy: Path) -> dict[str, str]:
    # PYTHONPATH comes before the editable install's finder, in this process and in
    # every rrdd a test starts, since the tests pass the environment on.
    return {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}


def start_worker(stack: ExitStack, copy: Path) -> str:
    """A cosmic-ray HTTP worker in `copy`, on a free loopback port; stopped with the stack."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # cosmic-ray's http-worker command listens on every address; this one on loopback only.
    serve = (
        "import sys; from aiohttp import web;"
        "from cosmic_ray.distribution.http import handle_mutate_and_test as h;"
        "app = web.Application(); app.add_routes([web.post('/', h)]);"
        "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)"
    )
    log = (copy / "worker.log").open("w")
    proc = subprocess.Popen(
        [PYTHON, "-c", serve, str(port)],
        cwd=copy,
        env=worker_env(copy),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.callback(stop, proc)
    stack.callback(log.close)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"mutate: the worker in {copy} did not start; see its worker.log")
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pytest_command(tests: Sequence[str]) -> list[str]:
    return [str(PYTHON), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]


def run_module(
    name: str, copy: Path, urls: list[str], timeout: float | None, mode: str
) -> tuple[Counter[str], list[tuple[str, str]]]:
    target = TARGETS[name]
    config = SESSIONS / f"{name}.toml"
    session = SESSIONS / f"{name}.sqlite"
    fresh = mode == "fresh" or not session.exists()
    if fresh:
        took = baseline(name, target, copy)
        # At most 280 s: cosmic-ray's HTTP distributor gives up on a worker's answer after
        # 300 s (aiohttp's default), and counts the mutant as an error, not as timed out.
        timeout = timeout or min(round(3 * took + 30), 280)
    elif timeout is None:  # the session's own
        timeout = float(re.findall(r"^timeout = (.*)$", config.read_text(), re.M)[0])
    choice = SESSIONS / f"{name}.tests.json"
    write_choice(name, target, copy, choice)
    chooser = [str(PYTHON), "extras/mutate.py", "--tests-for", str(choice)]
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.path}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {toml_string(shlex.join(chooser))}\n"
        '[cosmic-ray.distributor]\nname = "http"\n'
        f"[cosmic-ray.distributor.http]\nworker-urls = [{', '.join(map(toml_string, urls))}]\n"
    )
    if fresh:
        session.unlink(missing_ok=True)
        cosmic_ray("init", config, session, cwd=copy)
        with use_db(str(session), WorkDB.Mode.open) as db:
            skip_unwanted(db, copy / target.path)
    elif mode == "again":
        with sqlite3.connect(session) as db:  # cosmic-ray runs what has no result
            db.execute(
                "DELETE FROM work_results WHERE test_outcome = 'SURVIVED'"
                " OR worker_outcome NOT IN ('NORMAL', 'SKIPPED')"
            )
    with use_db(str(session), WorkDB.Mode.open) as db:
        total, done = db.num_work_items, db.num_results
    print(f"mutate: {name}: {total - done} mutants to run of {total}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [PYTHON.with_name("cosmic-ray"), "exec", config, session],
        cwd=copy,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                proc.wait(60)
                break
            except subprocess.TimeoutExpired:
                with use_db(str(session), WorkDB.Mode.open) as db:
                    print(f"mutate: {name}: {db.num_results - done} run", flush=True)
    finally:  # interrupted: what was run is kept, --resume goes on from there
        stop(proc)
    if proc.returncode:
        sys.exit(f"mutate: cosmic-ray exec failed for {name} (exit {proc.returncode})")
    print(f"mutate: {name}: {time.monotonic() - started:.0f} s", flush=True)
    return classify(session)


def baseline(name: str, target: Target, copy: Path) -> float:
    """The tests of `target` on the unmutated copy: they must pass, and how long they take."""
    start = time.monotonic()
    done = subprocess.run(
        pytest_command(target.tests),
        cwd=copy,
        env=worker_env(copy),
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - start
    if done.returncode:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
        sys.exit(f"mutate: {name}: the tests fail without a mutant")
    print(f"mutate: {name}: its tests take {took:.0f} s unmutated", flush=True)
    return took


# --- the tests a mutant runs -------------------------------------------------------------

# coverage.py in pytest's process, in every Python process a test starts (the rrdd command,
# python -m rrdd), in forks (the create workers, --workers), and up to os._exit.
COVERAGE_RC = """\
[run]
source_pkgs = rrdd
parallel = true
patch = subprocess, fork, _exit
disable_warnings = no-data-collected, module-not-measured, module-not-imported
"""

_lines_run: dict[str, dict[str, list[int]] | None] = {}  # test -> file -> lines, per run


def lines_run(test: str, copy: Path) -> dict[str, list[int]] | None:
    """The lines of rrdd's files (relative paths) that `test` (a test file, or a test of
    one) runs, measured once per invocation; None when it failed under measurement, so
    that what it runs is not known (it is then run for every mutant)."""
    if test not in _lines_run:
        with tempfile.TemporaryDirectory(prefix="rrdd-coverage.") as tmp:
            rc = Path(tmp) / "coveragerc"
            rc.write_text(COVERAGE_RC + f"data_file = {tmp}/data\n")
            done = subprocess.run(
                [PYTHON, "-m", "coverage", "run", f"--rcfile={rc}", *pytest_command([test])[1:]],
                cwd=copy,
                env=worker_env(copy),
                capture_output=True,
                text=True,
            )
            if done.returncode:
                print(f"mutate: {test} fails under coverage: run for every mutant", flush=True)
                _lines_run[test] = None
            else:
                measured = coverage.Coverage(config_file=str(rc))
                measured.combine(keep=False)
                data = measured.get_data()
                _lines_run[test] = {
                    os.path.relpath(f, copy): sorted(data.lines(f) or ())
                    for f in data.measured_files()
                }
    return _lines_run[test]


def write_choice(name: str, target: Target, copy: Path, choice: Path) -> None:
    """What a worker needs to choose a mutant's tests: the module unmutated, and the
    lines of it each of the module's tests runs."""
    print(f"mutate: {name}: measuring the lines each of its tests runs", flush=True)
    lines = {}
    for test in target.tests:
        runs = lines_run(test, copy)
        lines[test] = None if runs is None else runs.get(target.path, [])
    source = (copy / target.path).read_text()
    choice.write_text(json.dumps({"path": target.path, "source": source, "lines": lines}))


def run_chosen_tests(choice: Path) -> int:
    """cosmic-ray's test command, in a worker, its mutant in place: pytest -x on the
    module's tests that run a line the mutant changed, in their order; none when no
    test runs it (the mutant survives)."""
    spec = json.loads(choice.read_text())
    tests = list(spec["lines"])
    try:
        tests = chosen_tests(spec)
    except Exception as e:  # a mistake here must not pass for a killed mutant
        print(f"mutate: cannot choose the tests ({e!r}): all of them")
    print("mutate: tests:", *tests or ["none runs the mutated line"], flush=True)
    if not tests:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        code = subprocess.run([*pytest_command(tests), f"--junitxml={report}"]).returncode
        return code or failed_in(report)


def failed_in(report: Path) -> int:
    """1 when pytest's report is missing or counts a failure or error. A mutant of a
    fork's `if pid == 0` swaps parent and child: the process pytest started becomes a
    creator and exits 0 when its pipe closes, while its copy runs the tests on; only
    the report that copy writes tells how they went."""
    try:
        suite = ElementTree.parse(report).getroot().find("testsuite")
    except (OSError, ElementTree.ParseError):
        return 1
    if suite is None:
        return 1
    return 1 if int(suite.get("failures", "1")) or int(suite.get("errors", "1")) else 0


def chosen_tests(spec: dict[str, object]) -> list[str]:
    before, lines = str(spec["source"]), spec["lines"]
    assert isinstance(lines, dict)
    after = Path(str(spec["path"])).read_text()
    changed = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), False)
    rows = {
        row
        for tag, i1, i2, _, _ in changed.get_opcodes()
        if tag != "equal"
        for row in range(i1 + 1, max(i2, i1 + 1) + 1)
    }
    wanted: set[int] = set()
    for row in rows:
        found = statement_lines(before, row)
        if found is None:
            return list(lines)
        wanted |= found
    return [t for t, runs in lines.items() if runs is None or wanted & set(runs)]


def statement_lines(source: str, row: int) -> set[int] | None:
    """The lines coverage.py may record for the innermost statement holding `row` (of a
    compound one, its header); None when no statement holds it (a decorator)."""
    best: ast.stmt | ast.ExceptHandler | None = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.stmt | ast.ExceptHandler):
            end = node.end_lineno or node.lineno
            if node.lineno <= row <= end and (best is None or node.lineno >= best.lineno):
                best = node
    if best is None:
        return None
    body = getattr(best, "body", None)
    end = best.end_lineno or best.lineno
    if isinstance(body, list) and body:
        end = max(best.lineno, body[0].lineno - 1)
    return set(range(best.lineno, end + 1))


def cosmic_ray(*args: object, cwd: Path) -> None:
    subprocess.run(
        [PYTHON.with_name("cosmic-ray"), *map(str, args)],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def skip_unwanted(db: WorkDB, path: Path) -> None:
    """Mark as skipped the mutants of SKIP_OPERATORS and those inside annotations."""
    skip = re.compile("|".join(SKIP_OPERATORS))
    annotations = annotation_spans(path.read_text())
    for item in db.pending_work_items:
        (mutation,) = item.mutations
        if skip.match(mutation.operator_name):
            why = "operator not run"
        elif any(a <= mutation.start_pos and mutation.end_pos <= b for a, b in annotations):
            why = "inside an annotation"
        else:
            continue
        db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=why))


Span = tuple[tuple[int, int], tuple[int, int]]


def annotation_spans(source: str) -> list[Span]:
    """(line, column) spans of every annotation; the modules use postponed evaluation."""
    tree = ast.parse(source)
    if not any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    ):
        return []
    spans: list[Span] = []
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.arg | ast.AnnAssign):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        for a in found:
            if a is not None and a.end_lineno is not None and a.end_col_offset is not None:
                spans.append(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)))
    return spans


def classify(session: Path) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Counts by outcome, and each survivor's (operator, diff)."""
    counts: Counter[str] = Counter()
    survivors: list[tuple[str, str]] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = {item.job_id: item for item in db.work_items}
        for job_id, result in db.results:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                counts[f"skipped: {result.output}"] += 1
            elif killed_undecoded(result):
                counts["killed"] += 1
            elif result.worker_outcome != WorkerOutcome.NORMAL:
                counts["error"] += 1
                survivors.append((f"error ({result.worker_outcome})", result.output or ""))
            elif result.test_outcome == TestOutcome.SURVIVED:
                counts["survived"] += 1
                (mutation,) = items[job_id].mutations
                survivors.append((mutation.operator_name, result.diff or ""))
            elif result.output == "timeout":
                counts["timed out"] += 1
            elif result.test_outcome == TestOutcome.KILLED:
                counts["killed"] += 1
            else:
                counts["incompetent"] += 1
        counts["pending"] = db.num_work_items - db.num_results
    return counts, survivors


def killed_undecoded(result: WorkResult) -> bool:
    """The tests failed, but their output was not UTF-8: cosmic-ray 8.7.0 reports the
    exception it met decoding it, raised where it returns KILLED."""
    output = result.output or ""
    return "UnicodeDecodeError" in output and "return (TestOutcome.KILLED" in output


def load_equivalents() -> dict[str, list[dict[str, str]]]:
    """extras/mutate-equivalents.toml: per module, the changed line before and after, and why."""
    with EQUIVALENTS.open("rb") as f:
        table = tomllib.load(f)
    out: dict[str, list[dict[str, str]]] = {}
    for entry in table.get("equivalent", []):
        out.setdefault(entry["module"], []).append(entry)
    return out


def changed_lines(diff: str) -> tuple[str, str]:
    """The lines a mutant changes, before and after, without their indentation."""
    body = diff.split("\n@@", 1)[-1].splitlines()[1:]  # the lines after the hunk header
    removed = [line[1:].strip() for line in body if line.startswith("-")]
    added = [line[1:].strip() for line in body if line.startswith("+")]
    return "\n".join(removed), "\n".join(added)


def is_equivalent(diff: str, known: list[dict[str, str]]) -> bool:
    """Whether the diff's change is one of `known`; an entry with a "context" (a line as
    bare as "continue" occurs more than once) also needs that line just above it."""
    before, after = changed_lines(diff)
    body = diff.split("\n@@", 1)[-1].splitlines()[1:]
    first = next(i for i, line in enumerate(body) if line.startswith(("-", "+")))
    above = body[first - 1][1:].strip() if first else ""
    return any(
        (e["before"], e["after"]) == (before, after) and e.get("context", above) == above
        for e in known
    )


def report(
    name: str,
    counts: Counter[str],
    survivors: list[tuple[str, str]],
    equivalents: dict[str, list[dict[str, str]]],
) -> bool:
    """Print a module's figures and its survivors; True when one is not a known equivalent."""
    unknown = []
    for operator, diff in survivors:
        if operator.startswith("core/") and is_equivalent(diff, equivalents.get(name, [])):
            counts["survived"] -= 1
            counts["equivalent"] += 1
        else:
            unknown.append((operator, diff))
    run = counts["killed"] + counts["timed out"] + counts["survived"] + counts["equivalent"]
    rate = 100 * counts["survived"] / max(1, run - counts["equivalent"])
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k.startswith("skipped"))
    print(
        f"\n== {name}: {run} mutants run: {counts['killed']} killed, "
        f"{counts['timed out']} timed out, {counts['survived']} survived, "
        f"{counts['equivalent']} equivalent; {rate:.1f} % surviving (equivalents left out)"
    )
    extra = [f"{k} {counts[k]}" for k in ("error", "incompetent", "pending") if counts[k]]
    print(f"   not run: {skipped or 'none'}" + (f"; {', '.join(extra)}" if extra else ""))
    for operator, diff in unknown:
        print(f"\n-- survived: {operator}\n{diff.strip()}")
    return bool(unknown)


if __name__ == "__main__":
    sys.exit(main())
