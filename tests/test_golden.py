"""Golden cases: tests/data/<handler>/<case>.msg -> <case>.expected.json.

A case is one or more verbatim channel messages; the expected file lists every update
the writer receives (host, file, DS strings, template, update string), in order, and
every problem the dispatcher reports (host, test, handler, reason: a parse error), so
that a case which stores nothing says why. A parser that raises anything but ParseError
fails its cases outright: that is a bug, never an expectation. An optional <case>.env
holds KEY=VALUE environment lines (TEST2RRD, NCV_..., RRDDISKS ...).
`pytest --update-golden` rewrites the expected files; review the diff before committing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrdd.channel import ChannelParser, Message
from rrdd.daemon import make_context, make_routes
from rrdd.dispatch import Dispatcher
from rrdd.events import Counts, Event
from rrdd.parsers import load_builtins
from rrdd.problems import Problem, Problems
from rrdd.settings import load_settings
from rrdd.writer.memory import MemoryWriter

DATA = Path(__file__).parent / "data"
CASES = sorted(DATA.glob("*/*.msg"))


def read_env(path: Path) -> dict[str, str]:
    env = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key.strip()] = value
    return env


def run_case(msg_file: Path) -> dict[str, list[dict[str, object]]]:
    """The updates the writer received and the problems the dispatcher reported."""
    env = {"XYMONRRDS": "/nonexistent", **read_env(msg_file.with_suffix(".env"))}
    settings = load_settings({}, env)
    writer = MemoryWriter()
    counts = Counts()
    problems: list[Problem] = []
    dispatcher = Dispatcher(
        make_routes(settings),
        load_builtins(),
        make_context(settings, writer),
        writer,
        counts,
        problems=Problems(counts, hook=problems.append),
    )
    for item in ChannelParser(counts=counts).feed(msg_file.read_bytes()):
        assert isinstance(item, Message), f"{msg_file.name}: not a status or data message"
        dispatcher.handle(item)
    assert not counts[Event.GARBAGE], f"{msg_file.name}: badly framed"
    for p in problems:
        if p.event is Event.PARSER_BUGS:
            pytest.fail(f"{msg_file.name}: {p.host}/{p.test}: {p.reason}", pytrace=False)
    return {
        "updates": writer.records,
        "problems": [
            {"host": p.host, "test": p.test, "handler": p.handler, "reason": p.reason}
            for p in problems
        ],
    }


@pytest.mark.parametrize("msg_file", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(msg_file: Path, request: pytest.FixtureRequest) -> None:
    got = run_case(msg_file)
    expected_file = msg_file.with_suffix(".expected.json")
    if request.config.getoption("--update-golden"):
        expected_file.write_text(json.dumps(got, indent=1) + "\n")
    assert expected_file.exists(), f"no {expected_file.name}; run pytest --update-golden"
    assert got == json.loads(expected_file.read_text())
