"""The one event loop of an rrdd process: inputs, timers, signals and the systemd watchdog.

Every rrdd process waits in one place: the single daemon reading stdin, the router of
--workers and each of its workers, and a NATS worker (whose client library is written
for asyncio). An input plugs in with `reader` (a file descriptor and what to do when it
is readable) or, for an asyncio library, as the coroutine `run` is given; timers with
`every`; other threads (the file watcher, the extra script's workers) with `soon`.

It is asyncio's selector loop over poll(2): epoll refuses regular files, and a channel
replayed from a file is one. rrdd's signals (SIGTERM, SIGINT: stop; SIGHUP: reload) go
to one handler, called in the loop, never in the middle of a message. After `run`
returns the handlers stay in place until `close`, so that a second SIGTERM (systemd
signals the whole unit, xymond_channel its worker) cannot cut the final flush short.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from rrdd import systemd

# The signals rrdd acts on: SIGHUP reloads, the others stop it.
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Loop:
    def __init__(self) -> None:
        self.aio = asyncio.SelectorEventLoop(selectors.PollSelector())
        self._signals: tuple[signal.Signals, ...] = ()
        self._stopped = False

    def reader(self, fd: int, callback: Callable[[], object]) -> None:
        """Call `callback` whenever `fd` is readable (until `forget`)."""
        self.aio.add_reader(fd, callback)

    def forget(self, fd: int) -> None:
        self.aio.remove_reader(fd)

    def every(self, seconds: float, callback: Callable[[], object]) -> None:
        """Call `callback` every `seconds`, the first time `seconds` from now."""

        def again() -> None:
            self.aio.call_later(seconds, again)
            callback()

        self.aio.call_later(seconds, again)

    def soon(self, callback: Callable[[], object]) -> None:
        """Call `callback` in the loop as soon as it can; safe from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self.aio.call_soon_threadsafe(callback)

    def on_signals(
        self, handler: Callable[[signal.Signals], object], signals: tuple[signal.Signals, ...]
    ) -> None:
        """`handler(signum)` for each of `signals`, called in the loop."""
        for s in signals:
            self.aio.add_signal_handler(s, handler, s)
        self._signals += signals

    def run(self, main: Coroutine[Any, Any, object] | None = None) -> None:
        """Run until `stop` is called (or `main`, when given, returns or raises: its
        exception is raised here). Tells systemd that rrdd is ready, and keeps its
        watchdog fed."""
        systemd.notify("READY=1", "STATUS=Reading the channel")
        interval = systemd.watchdog_interval()
        if interval is not None:
            systemd.notify("WATCHDOG=1")
            self.every(interval, lambda: systemd.notify("WATCHDOG=1"))
        if self._stopped:
            return
        if main is None:
            self.aio.run_forever()
            return
        task = self.aio.create_task(main)
        task.add_done_callback(lambda _: self.aio.stop())
        self.aio.run_forever()
        if task.done():
            task.result()
        else:  # stopped from outside: the input ends where it is
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                self.aio.run_until_complete(task)

    def stop(self) -> None:
        """Make `run` return once the callback under way is done."""
        self._stopped = True
        self.aio.stop()

    def close(self) -> None:
        """Release the signals and the loop's own file descriptors."""
        for s in self._signals:
            self.aio.remove_signal_handler(s)
        self._signals = ()
        self.aio.close()
