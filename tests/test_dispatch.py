from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.dispatch import Dispatcher, Routes
from rrdd.errors import ParseError
from rrdd.events import Counts, Event
from rrdd.external import ExtraScripts
from rrdd.parsers import Handler
from rrdd.problems import MAX_KEYS, Problem, Problems
from rrdd.schema import Schema, Update
from rrdd.writer.memory import MemoryWriter
from tests.helpers import wait_until

EXTRA = Path(__file__).parent / "data/extra"

SCHEMA = Schema.of("DS:v:GAUGE:600:U:U")


def message(test: str, flags: str = "", body: str = "status h.t green x") -> Message:
    return Message("status", 1, 1795312871, "1.2.3.4", "h", test, "green", flags, "", "", body)


def test_routes_map_caselessly_and_the_first_entry_wins() -> None:
    routes = Routes("cpu=la, disk ,memory,Disk=other,,conn=tcp", services=["ssh", "conn"])
    assert routes.handler_id("cpu") == "la"
    assert routes.handler_id("CPU") == "la"
    assert routes.handler_id("disk") == "disk"
    assert routes.handler_id("DISK") == "disk"
    assert routes.handler_id("ssh") == "tcp"
    assert routes.handler_id("conn") == "tcp"  # the explicit entry, not the service


def test_unmapped_test_goes_to_the_handler_of_its_own_name() -> None:
    assert Routes("cpu=la").handler_id("trends") == "trends"


def yielding_then_failing(msg: Message, ctx: Context) -> Iterator[Update]:
    yield Update("first.rrd", SCHEMA, ("1",))
    raise ParseError("the second line is unreadable")


def crashing(msg: Message, ctx: Context) -> Iterator[Update]:
    yield Update("a.rrd", SCHEMA, ("1",))
    raise IndexError("bug")


def make(
    parse: object, problems: list[Problem] | None = None
) -> tuple[Dispatcher, MemoryWriter, Counts]:
    handler = Handler(("x",), parse, "test", ())  # type: ignore[arg-type]
    writer = MemoryWriter()
    counts = Counts()
    hook = None if problems is None else problems.append
    reporter = Problems(counts, hook=hook)
    dispatcher = Dispatcher(
        Routes("t=x"), {"x": handler}, Context(), writer, counts, problems=reporter
    )
    return dispatcher, writer, counts


@pytest.mark.parametrize(
    ("parse", "event"),
    [(yielding_then_failing, Event.PARSE_ERRORS), (crashing, Event.PARSER_BUGS)],
)
def test_parser_error_is_logged_counted_and_earlier_updates_kept(
    parse: object, event: Event, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher, writer, counts = make(parse)
    with caplog.at_level(logging.WARNING):
        dispatcher.handle(message("t"))
        dispatcher.handle(message("t"))
    assert len(writer.records) == 2
    assert counts.get(event, "x") == 2 and counts.totals()[f"{event.key}_x"] == 2
    assert caplog.text.count("h/t: ") == 1  # the same bad input is logged once an hour


def test_unknown_test_is_counted_and_skipped() -> None:
    dispatcher, writer, counts = make(yielding_then_failing)
    dispatcher.handle(message("nosuchtest"))
    dispatcher.handle(message("t", flags="R"))
    assert writer.records == []
    assert counts[Event.UNHANDLED_TESTS] == 1 and counts[Event.REVERSE_TESTS] == 1


def test_every_parse_error_is_reported_also_when_its_log_line_is_not_repeated() -> None:
    problems: list[Problem] = []
    dispatcher, _, _ = make(yielding_then_failing, problems)
    dispatcher.handle(message("t"))
    dispatcher.handle(message("t"))
    unreadable = "the second line is unreadable"
    body = "status h.t green x"
    expected = Problem(Event.PARSE_ERRORS, "h", "t", "", unreadable, body, "x")
    assert problems == [expected] * 2


def test_a_parser_that_raises_anything_else_is_reported_as_a_bug() -> None:
    problems: list[Problem] = []
    dispatcher, _, _ = make(crashing, problems)
    dispatcher.handle(message("t"))
    bug = "parser error IndexError: bug"
    assert problems == [Problem(Event.PARSER_BUGS, "h", "t", "", bug, "status h.t green x", "x")]


def test_a_problem_of_the_extra_script_is_reported(tmp_path: Path) -> None:
    extra = ExtraScripts(
        str(EXTRA / "sleeper.sh"),
        ("slow",),
        tmpdir=str(tmp_path),
        timeout=0.2,
        workers=1,
        persistent=False,
    )
    problems: list[Problem] = []
    counts = Counts()
    writer = MemoryWriter()
    dispatcher = Dispatcher(
        Routes("t=slow"),
        {},
        Context(),
        writer,
        counts,
        extra,
        Problems(counts, hook=problems.append),
    )
    dispatcher.handle(message("t"))
    wait_until(lambda: not extra.busy())
    dispatcher.collect()
    extra.close()
    [problem] = problems
    assert problem.event is Event.EXTRA_TIMEOUTS and problem.handler == "extra"
    assert problem.reason == "killed after its time limit of 0.2 s"
    assert counts[Event.EXTRA_TIMEOUTS] == counts[Event.EXTRA_RUNS] == 1


def test_messages_are_counted_by_kind() -> None:
    dispatcher, _, counts = make(yielding_then_failing)
    data = message("nosuchtest")._replace(kind="data")
    for msg in (message("nosuchtest"), message("t", flags="R"), data):
        dispatcher.handle(msg)
    assert (counts.get(Event.MESSAGES, "status"), counts.get(Event.MESSAGES, "data")) == (2, 1)


def test_a_parser_bug_leaves_its_traceback_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher, _, _ = make(crashing)
    with caplog.at_level(logging.DEBUG, logger="rrdd.dispatch"):
        dispatcher.handle(message("t"))
    (record,) = [r for r in caplog.records if r.getMessage() == "parser traceback"]
    assert record.exc_info is not None and record.exc_info[0] is IndexError


def test_the_same_bad_input_is_logged_again_after_an_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    handler = Handler(("x",), yielding_then_failing, "test", ())  # type: ignore[arg-type]
    counts = Counts()
    problems = Problems(counts, monotonic=lambda: now[0])
    dispatcher = Dispatcher(
        Routes("t=x"), {"x": handler}, Context(), MemoryWriter(), counts, problems=problems
    )
    logged = []
    with caplog.at_level(logging.WARNING, logger="rrdd"):
        for at in (0, 3599.5, 3600, 7199.5, 7201):
            now[0] = 1000.0 + at
            before = len(caplog.records)
            dispatcher.handle(message("t"))
            logged.append(len(caplog.records) > before)
    assert logged == [True, False, True, False, True]
    assert counts.get(Event.PARSE_ERRORS, "x") == 5


def test_what_is_remembered_to_be_said_once_is_bounded() -> None:
    # Host names come from the network: the problems kept for their repeats are bounded.
    counts = Counts()
    problems = Problems(counts)
    for i in range(MAX_KEYS + 5):
        problems.report(Problem(Event.PARSE_ERRORS, f"h{i}", "t", reason="bad", handler="x"))
    assert len(problems._said) <= MAX_KEYS
    assert counts.get(Event.PARSE_ERRORS, "x") == MAX_KEYS + 5


def test_each_kind_of_extra_script_problem_is_logged_once_an_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A time-out, an answer too long and an answer that does not read, from one host and
    # test: a line for the time-out and one for the first failure; the rest: none.
    script = tmp_path / "moody.sh"
    script.write_text(
        "#!/bin/sh\n"
        'case $(cat "$3") in\n'
        "*slow*) exec sleep 600 ;;\n"
        "*long*) exec head -c 5000000 /dev/zero ;;\n"
        "*) echo DS:x:GAUGE:600:U:U; echo x.rrd; echo 1:2 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    extra = ExtraScripts(
        str(script), ("t",), tmpdir=str(tmp_path), timeout=2, workers=1, persistent=False
    )
    counts = Counts()
    dispatcher = Dispatcher(
        Routes("t"), {}, Context(), MemoryWriter(), counts, extra, problems=Problems(counts)
    )
    with caplog.at_level(logging.WARNING, logger="rrdd"):
        for body in ("slow", "long", "bad", "slow", "long", "bad"):
            dispatcher.handle(message("t", body=f"status h.t green {body}"))
            wait_until(lambda: not extra.busy())
            dispatcher.collect()
    extra.close()
    assert counts[Event.EXTRA_RUNS] == 6, caplog.text
    assert (counts[Event.EXTRA_TIMEOUTS], counts[Event.EXTRA_ERRORS]) == (2, 4), caplog.text
    # One line an hour for each event: the time-outs, and the other failures.
    assert len([r for r in caplog.records if r.getMessage().startswith("h/t: ")]) == 2


def test_the_daemon_has_a_handler_for_every_control_kind() -> None:
    from rrdd.channel import CONTROLS
    from rrdd.daemon import CONTROL_HANDLERS

    assert set(CONTROL_HANDLERS) == set(CONTROLS)
