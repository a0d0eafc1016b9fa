from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Log

# Where tests/test_web.py keeps its screenshots, once it has taken them.
SCREENSHOTS = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/data/*/*.expected.json from what rrdd produces now (review the diff)",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = terminalreporter.config.stash.get(SCREENSHOTS, None)
    if shots is not None:
        terminalreporter.write_line(f"rrdd web: screenshots of its pages in {shots}")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    """A file for rrdd's standard error: start(..., stderr=log.file)."""
    path = tmp_path / "rrdd.log"
    with path.open("wb") as file:
        yield Log(path, file)
