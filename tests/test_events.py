"""rrdd.events and rrdd.problems: declared events, and the problems journal rrdd web reads."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rrdd.events import FAMILIES, Counts, Event, from_json, labels_of, to_json, totals
from rrdd.problems import (
    EXCERPT,
    KINDS,
    REPEAT_SECONDS,
    Journal,
    Problem,
    Problems,
)
from rrdd.web import problems as web
from tests.test_registry import man_section

# --- declared events ---------------------------------------------------------------------


def test_every_event_has_a_family_and_every_family_help_and_an_event() -> None:
    for event in Event:
        assert event.family in FAMILIES, event
        family = FAMILIES[event.family]
        # a label given when counted needs a labelled family; a fixed one names its value
        assert (event.label is None or bool(event.label)) == (family.label is not None), event
    for name, family in FAMILIES.items():
        assert family.help.strip().endswith("."), name
        assert re.fullmatch(r"rrdd_[a-z_]+_total", name), name
        assert any(e.family == name for e in Event), f"{name}: no event counts in it"


def test_every_family_is_documented_in_the_man_page() -> None:
    text = man_section("METRICS").replace("\\", "")
    missing = [name for name in FAMILIES if name not in text]
    assert not missing, f"not in rrdd.8's METRICS: {missing}"
    for name, family in FAMILIES.items():
        for label in labels_of(name):
            assert label in text, f"{name}{{{family.label}={label!r}}} not in rrdd.8's METRICS"


def test_the_keys_and_labels_of_events_are_distinct() -> None:
    assert len({e.key for e in Event}) == len(Event)
    pairs = [(e.family, e.label) for e in Event if e.label is not None]
    assert len(set(pairs)) == len(pairs)


def test_counts_by_event_and_label_and_their_totals_names() -> None:
    counts = Counts()
    counts.add(Event.MESSAGES, 2, "status")
    counts.add(Event.UPDATES, 3, "la")
    counts.add(Event.UPDATES, 1, "disk")
    counts.add(Event.VALUES_WRITTEN, 8)
    counts.add(Event.VALUES_WRITTEN, -1)  # taken back: rrdcached refused it
    assert counts[Event.UPDATES] == 4 and counts.get(Event.UPDATES, "la") == 3
    assert counts[Event.VALUES_SHED] == 0
    assert counts.totals() == {
        "messages_status": 2,
        "updates_la": 3,
        "updates_disk": 1,
        "values_written": 7,
    }
    snapshot = counts.snapshot()
    assert from_json(json.loads(json.dumps(to_json(snapshot)))) == snapshot
    assert totals(snapshot) == counts.totals()


# --- problems: counted, said, journaled ---------------------------------------------------


def test_every_kind_of_problem_is_one_the_web_knows_and_each_is_produced() -> None:
    assert {k.name for k in KINDS.values()} == set(web.KINDS)
    for event, kind in KINDS.items():
        assert kind.lines > 0, event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def journal_lines(state: Path) -> list[web.Problem]:
    found = []
    for path in sorted(state.glob("problems.*")):
        for line in path.read_bytes().splitlines():
            p = web.parse_line(line)
            assert p is not None, line  # every line is one the web reads
            found.append(p)
    return found


def rejected(host: str = "web1", reason: str = "bad value") -> Problem:
    return Problem(Event.UPDATES_REJECTED, host, "cpu", "la.rrd", reason)


def test_a_report_counts_logs_and_journals_in_the_webs_format(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts, seen = Counts(), []
    journal = Journal(tmp_path, pid=4242, clock=lambda: 1796604430.5)
    problems = Problems(counts, journal, hook=seen.append)
    body = "status web1,example,com.disk red " + "x" * 1000
    bad = Problem(Event.PARSE_ERRORS, "web1", "disk", "", "no header", body, "disk")
    with caplog.at_level(logging.WARNING):
        problems.report(bad)
    assert counts.get(Event.PARSE_ERRORS, "disk") == 1 and seen == [bad]
    assert "web1/disk: no header; input: 'status web1" in caplog.text
    assert journal_lines(tmp_path) == []  # written between reads, not now
    problems.flush()
    [line] = journal_lines(tmp_path)
    assert line == web.Problem(
        1796604430.5, 4242, "web1", "disk", "", "parse_error", "no header", body[:EXCERPT]
    )
    assert (tmp_path / "problems.4242.jsonl").exists()


def test_a_repeated_problem_is_said_once_an_interval_with_its_repeats(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts, clock = Counts(), Clock()
    problems = Problems(counts, Journal(tmp_path), monotonic=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            problems.report(rejected())
        problems.report(rejected(host="web2"))  # another host: said at once
        clock.now += REPEAT_SECONDS
        problems.report(rejected(reason="bad again"))
    problems.flush()
    lines = journal_lines(tmp_path)
    assert [(p.host, p.reason) for p in lines] == [
        ("web1", "bad value"),
        ("web2", "bad value"),
        ("web1", "bad again (and 4 more like it since the line before)"),
    ]
    assert caplog.text.count("web1/la.rrd: ") == 2
    assert counts[Event.UPDATES_REJECTED] == 7  # every one is counted


def test_the_repeats_not_said_yet_are_journaled_at_exit(tmp_path: Path) -> None:
    problems = Problems(Counts(), Journal(tmp_path))
    for _ in range(3):
        problems.report(rejected())
    problems.close()
    assert [p.reason for p in journal_lines(tmp_path)] == [
        "bad value",
        "bad value (and 2 more like it since the line before)",
    ]


def test_a_flood_of_old_timestamps_costs_a_few_lines_and_one_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts, clock = Counts(), Clock()
    problems = Problems(counts, Journal(tmp_path), monotonic=clock)
    with caplog.at_level(logging.DEBUG, logger="rrdd.problems"):
        for i in range(5000):  # a restart: every file gets a value it has
            old = f"update at {i} dropped: the file has {i} already"
            problems.report(Problem(Event.UPDATES_DROPPED_OLD, f"h{i}", "cpu", "la.rrd", old))
        clock.now += 3600
        problems.flush()
    assert counts[Event.UPDATES_DROPPED_OLD] == 5000
    assert len(journal_lines(tmp_path)) == KINDS[Event.UPDATES_DROPPED_OLD].lines == 10
    assert "4990 more old_timestamp problems in the last hour" in caplog.text
    assert caplog.text.count("dropped: the file has") == 10


def test_the_journal_is_rotated_at_its_size_and_old_ones_bounded(tmp_path: Path) -> None:
    gone = []
    for _ in range(4):
        p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=-1)
        gone.append(int(p.stdout))
    for age, pid in enumerate(gone):  # the first is the newest
        path = tmp_path / f"problems.{pid}.jsonl"
        path.write_text("{}\n")
        os.utime(path, (2e9 - age, 2e9 - age))
    (tmp_path / f"problems.{gone[0]}.jsonl.1").write_text("{}\n")
    live = tmp_path / f"problems.{os.getppid()}.jsonl"
    live.write_text("{}\n")
    (tmp_path / "notes.txt").write_text("not a journal")
    clock = Clock()
    journal = Journal(tmp_path, max_bytes=2000, keep=2, clock=clock)
    journal.start()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [
            f"problems.{gone[0]}.jsonl",
            f"problems.{gone[0]}.jsonl.1",
            f"problems.{gone[1]}.jsonl",
            live.name,
            "notes.txt",
        ]
    )
    problems = Problems(Counts(), journal)
    for i in range(40):  # over 100 bytes each: rotated twice
        clock.now += 1
        problems.report(rejected(host=f"h{i}"))
        problems.flush()
    rotated = Path(f"{journal.path}.1")
    assert 2000 <= rotated.stat().st_size < 2300 and journal.path.stat().st_size < 2000
    mine = [p.host for p in web.ProblemLog(tmp_path).recent() if p.pid == journal.pid]
    assert mine[0] == "h39" and 20 < len(mine) < 40  # the newest, and no more than two files


def test_an_unwritable_state_dir_is_said_once_and_ingestion_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("a file where the directory should be")
    counts = Counts()
    journal = Journal(blocked)
    problems = Problems(counts, journal)
    with caplog.at_level(logging.WARNING):
        journal.start()
        for i in range(3):
            problems.report(rejected(host=f"h{i}"))
            problems.flush()
    assert caplog.text.count("Cannot write problems to") == 1
    assert counts[Event.UPDATES_REJECTED] == 3


def test_names_that_are_not_utf8_make_lines_any_reader_takes(tmp_path: Path) -> None:
    host = b"h\xff\xfe".decode("utf-8", "surrogateescape")
    problems = Problems(Counts(), Journal(tmp_path))
    problems.report(Problem(Event.UPDATES_REFUSED, host, "cpu", "x.rrd", "refused: odd"))
    problems.flush()
    [line] = journal_lines(tmp_path)
    assert line.host == "h\ufffd\ufffd"


def test_a_repeat_held_back_by_the_hourly_ceiling_is_journaled_at_exit(tmp_path: Path) -> None:
    clock = Clock()
    problems = Problems(Counts(), Journal(tmp_path), monotonic=clock)

    def old(host: str) -> Problem:
        return Problem(Event.UPDATES_DROPPED_OLD, host, "cpu", "la.rrd", "not newer")

    problems.report(old("a"))
    clock.now += REPEAT_SECONDS
    for i in range(KINDS[Event.UPDATES_DROPPED_OLD].lines):  # the next hour's lines
        problems.report(old(f"h{i}"))
    problems.report(old("a"))  # its hour is over, but no line is left
    problems.close()
    said = [(p.host, p.reason) for p in journal_lines(tmp_path) if p.host == "a"]
    assert said == [
        ("a", "not newer"),
        ("a", "not newer (and 1 more like it since the line before)"),
    ]
