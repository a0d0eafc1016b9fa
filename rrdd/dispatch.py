"""Routing: test name -(TEST2RRD)-> handler id -> parser -> writer.

This is the only place that catches parser exceptions: a message that a parser cannot
read costs one log line (``host/test: reason``) and a counter, never the daemon. Each such
refusal also goes, as a `Problem`, to the `report` callable given to the Dispatcher.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.errors import ParseError
from rrdd.external import ExtraScripts
from rrdd.parsers import Handler
from rrdd.problems import Problem, Report
from rrdd.schema import Update
from rrdd.writer import Writer

log = logging.getLogger("rrdd.dispatch")

# A test's route: its handler id, its built-in handler (None: none, or the extra
# script) and the counter of its updates; resolved once per test name.
Route = tuple[str, Handler | None, str]
MESSAGE_COUNTERS = {"status": "messages_status", "data": "messages_data"}

REPEAT_LOG_SECONDS = 3600.0  # the same bad input from the same host/test is logged once an hour


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
        stats: Counter[str],
        extra: ExtraScripts | None = None,
        report: Report | None = None,
    ):
        self.routes = routes
        self.report = report
        self.extra = extra
        self.handlers = handlers
        self.ctx = ctx
        self.writer = writer
        self.stats = stats
        self._logged: dict[tuple[str, str, str], float] = {}
        self._resolved: dict[str, Route] = {}  # test name -> its route

    def handle(self, msg: Message) -> None:
        self.stats[MESSAGE_COUNTERS.get(msg.kind) or f"messages_{msg.kind}"] += 1
        if "R" in msg.flags:
            self.stats["reverse_tests"] += 1  # a reverse test has no data
            return
        route = self._resolved.get(msg.testname) or self._resolve(msg.testname)
        hid, handler, counter = route
        if handler is None:
            if self.extra is not None and self.extra.wants(hid):
                self.extra.submit(msg)  # the answer comes back through collect()
                return
            self.stats["unhandled_tests"] += 1
            log.debug("%s/%s: no handler for %r, skipped", msg.hostname, msg.testname, hid)
            return
        updates: list[Update] = []
        try:
            updates.extend(handler.parse(msg, self.ctx))  # keeps what came before an error
        except ParseError as e:
            self._parse_failed(msg, hid, str(e))
        except Exception as e:  # a parser bug must not stop the daemon or lose other data
            self._parse_failed(msg, hid, f"parser error {type(e).__name__}: {e}", bug=True)
            log.debug("parser traceback", exc_info=True)
        self.stats[counter] += len(updates)
        write, host, test, timestamp = self.writer.write, msg.hostname, msg.testname, msg.timestamp
        for update in updates:
            write(host, test, timestamp, update)

    def handler_for(self, test: str) -> tuple[str, Handler | None]:
        """The handler id of a test and its built-in handler (None: none, or the extra script)."""
        hid, handler, _ = self._resolved.get(test) or self._resolve(test)
        return hid, handler

    def _resolve(self, test: str) -> Route:
        hid = self.routes.handler_id(test)
        handler = self.handlers.get(hid)
        if handler is None and hid.lower() in self.ctx.mibs:
            handler = self.handlers.get("snmpmib")  # a MIB of snmpmibs.cfg, read generically
        if len(self._resolved) > 10000:  # test names come from the network
            self._resolved.clear()
        route = self._resolved[test] = (hid, handler, f"updates_{hid}")
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
            self.stats["extra_runs"] += 1
            self.stats["extra_timeouts"] += result.timed_out
            msg = result.msg
            if result.problems:
                # They name values and counts that change from one message to the next:
                # one complaint an interval per host, test and kind of problem.
                kind = "time" if result.timed_out else "size" if result.oversize else "output"
                self._parse_failed(msg, "extra", "; ".join(result.problems), kind=kind)
            self.stats["updates_extra"] += len(result.updates)
            for update in result.updates:
                self.writer.write(msg.hostname, msg.testname, msg.timestamp, update)

    def _parse_failed(
        self, msg: Message, hid: str, reason: str, bug: bool = False, kind: str | None = None
    ) -> None:
        """Count, report, and log once an interval for a host, test and `kind` (else the
        reason)."""
        self.stats[f"parse_errors_{hid}"] += 1
        if self.report is not None:
            self.report(Problem(msg.hostname, msg.testname, hid, reason, bug))
        key = (msg.hostname, msg.testname, kind or reason)
        now = self.ctx.clock()
        if now - self._logged.get(key, now - REPEAT_LOG_SECONDS) < REPEAT_LOG_SECONDS:
            log.debug("%s/%s: %s (again)", msg.hostname, msg.testname, reason)
            return
        if len(self._logged) > 10000:
            self._logged.clear()
        self._logged[key] = now
        log.warning("%s/%s: %s; input: %.400r", msg.hostname, msg.testname, reason, msg.body)
