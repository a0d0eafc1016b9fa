"""Where log lines go: a destination per severity, as MonAMI allows.

A destination is ``stderr`` (the default, which xymond_channel's --log file or the
systemd journal takes), ``syslog``, ``ignore``, or a file path. Files are reopened on
@@logrotate and SIGHUP, and also when they have been moved away.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping

from rrdd.errors import ConfigError

FORMAT = "%(asctime)s rrdd[%(process)d] %(levelname)s %(message)s"
SEVERITIES = {  # severity -> the logging levels it takes
    "error": frozenset({logging.ERROR, logging.CRITICAL}),
    "warning": frozenset({logging.WARNING}),
    "info": frozenset({logging.INFO}),
    "debug": frozenset({logging.DEBUG}),
}


class _Severities(logging.Filter):
    def __init__(self, severities: list[str]):
        super().__init__()
        self.levels = frozenset().union(*(SEVERITIES[s] for s in severities))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno in self.levels


def check(destinations: Mapping[str, str]) -> None:
    """Raise ConfigError for an unknown severity or an empty destination."""
    for severity, where in destinations.items():
        if severity not in SEVERITIES:
            raise ConfigError(f"log: unknown severity {severity!r} (use {', '.join(SEVERITIES)})")
        if not where:
            raise ConfigError(f"log: no destination for {severity}")


def configure(destinations: Mapping[str, str], debug: bool) -> None:
    """Send each severity to its destination (stderr when not given)."""
    check(destinations)
    places: dict[str, list[str]] = {}
    for severity in SEVERITIES:
        where = destinations.get(severity, "stderr")
        if where != "ignore":
            places.setdefault(where, []).append(severity)
    handlers = []
    for where, severities in places.items():
        handler = _handler(where)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_Severities(severities))
        handlers.append(handler)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def _handler(where: str) -> logging.Handler:
    if where == "stderr":
        return logging.StreamHandler(sys.stderr)
    if where == "syslog":
        address = "/dev/log" if os.path.exists("/dev/log") else ("localhost", 514)
        handler = logging.handlers.SysLogHandler(address=address)
        handler.ident = "rrdd: "
        return handler
    try:
        return logging.handlers.WatchedFileHandler(where)
    except OSError as e:
        raise ConfigError(f"log: cannot open {where}: {e.strerror}") from None


def reopen() -> None:
    """@@logrotate and SIGHUP: open the log files again."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()
