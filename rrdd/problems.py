"""What rrdd could not read, as values: one `Problem` per refusal it reports.

The dispatcher logs each one as ``host/test: reason`` (an hour apart at most for the same
input) and hands every one, logged or not, to an optional callable: the golden tests
keep them beside the updates, so that a case that writes nothing says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """A message, or part of one, that was not stored, and why."""

    host: str
    test: str
    handler: str  # the handler id the test was routed to ("extra": the extra script)
    reason: str  # the text the log line gives after "host/test: "
    bug: bool = False  # the parser raised something other than ParseError: rrdd is wrong


Report = Callable[[Problem], None]
