"""Routing: test name -(TEST2RRD)-> handler id -> parser -> writer.

This is the only place that catches parser exceptions: a message that a parser cannot
read is one `Problem` (problems.py: counted, logged once an hour as ``host/test:
reason``, kept for rrdd web), never the end of the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.events import Counts, Event
from rrdd.external import ExtraScripts
from rrdd.parsers import Handler
from rrdd.problems import EXCERPT, Problem, Problems
from rrdd.schema import Update
from rrdd.writer import Writer

log = logging.getLogger("rrdd.dispatch")

# A test's route: its handler id and its built-in handler (None: none, or the extra
# script); resolved once per test name.
Route = tuple[str, Handler | None]
# The events of every message, looked up once: each lookup of an Enum member costs.
MESSAGES, UPDATES = Event.MESSAGES, Event.UPDATES


class Routes:
    """The TEST2RRD table: caseless test name -> handler id; the first entry of a name wins."""

    def __init__(self, test2rrd: str, services: Iterable[str] = ()):
        self.table: dict[str, str] = {}
        entries = [e.strip() for e in test2rrd.split(",")]
        entries += [f"{svc}=tcp" for svc in services]
        for entry in entries:
            column, _, rrdname = entry.partition("=")
            column = column.strip()
            if column:
                self.table.setdefault(column.lower(), rrdname.strip() or column)

    def handler_id(self, test: str) -> str:
        """The handler id for a test; a test missing from the table goes to the handler
        of its own name."""
        return self.table.get(test.lower(), test)


class Dispatcher:
    """Sends each message to its parser and the parser's updates to the writer."""

    def __init__(
        self,
        routes: Routes,
        handlers: Mapping[str, Handler],
        ctx: Context,
        writer: Writer,
        counts: Counts,
        extra: ExtraScripts | None = None,
        problems: Problems | None = None,
    ):
        self.routes = routes
        self.extra = extra
        self.handlers = handlers
        self.ctx = ctx
        self.writer = writer
        self.counts = counts
        self.problems = problems or Problems(counts, monotonic=ctx.clock)
        self._resolved: dict[str, Route] = {}  # test name -> its route

    def handle(self, msg: Message) -> None:
        add = self.counts.add
        add(MESSAGES, 1, msg.kind)
        if "R" in msg.flags:
            add(Event.REVERSE_TESTS)  # a reverse test has no data
            return
        hid, handler = self._resolved.get(msg.testname) or self._resolve(msg.testname)
        if handler is None:
            if self.extra is not None and self.extra.wants(hid):
                self.extra.submit(msg)  # the answer comes back through collect()
                return
            add(Event.UNHANDLED_TESTS)
            log.debug("%s/%s: no handler for %r, skipped", msg.hostname, msg.testname, hid)
            return
        updates: list[Update] = []
        try:
            updates.extend(handler.parse(msg, self.ctx))  # keeps what came before an error
        except ParseError as e:
            self._parse_failed(msg, hid, str(e))
        except Exception as e:  # a parser bug must not stop the daemon or lose other data
            reason = f"parser error {type(e).__name__}: {e}"
            self._parse_failed(msg, hid, reason, Event.PARSER_BUGS)
            log.debug("parser traceback", exc_info=True)
        add(UPDATES, len(updates), hid)
        write, host, test, timestamp = self.writer.write, msg.hostname, msg.testname, msg.timestamp
        for update in updates:
            write(host, test, timestamp, update)

    def handler_for(self, test: str) -> tuple[str, Handler | None]:
        """The handler id of a test and its built-in handler (None: none, or the extra script)."""
        return self._resolved.get(test) or self._resolve(test)

    def _resolve(self, test: str) -> Route:
        hid = self.routes.handler_id(test)
        handler = self.handlers.get(hid)
        if handler is None and hid.lower() in self.ctx.mibs:
            handler = self.handlers.get("snmpmib")  # a MIB of snmpmibs.cfg, read generically
        if len(self._resolved) > 10000:  # test names come from the network
            self._resolved.clear()
        route = self._resolved[test] = (hid, handler)
        return route

    def reconfigure(self, routes: Routes) -> None:
        """New routes (and a context changed in place): resolve test names afresh."""
        self.routes = routes
        self._resolved.clear()

    def collect(self) -> None:
        """Write what the extra script answered for earlier messages."""
        if self.extra is None:
            return
        for result in self.extra.results():
            self.counts.add(Event.EXTRA_RUNS)
            msg = result.msg
            if result.problems:
                event = Event.EXTRA_TIMEOUTS if result.timed_out else Event.EXTRA_ERRORS
                self._parse_failed(msg, "extra", "; ".join(result.problems), event)
            self.counts.add(UPDATES, len(result.updates), "extra")
            for update in result.updates:
                self.writer.write(msg.hostname, msg.testname, msg.timestamp, update)

    def _parse_failed(
        self, msg: Message, hid: str, reason: str, event: Event = Event.PARSE_ERRORS
    ) -> None:
        self.problems.report(
            Problem(
                event,
                msg.hostname,
                msg.testname,
                reason=reason,
                excerpt=msg.body[:EXCERPT],
                handler=hid,
            )
        )
