"""Writers own all RRD I/O: creating files, caching values, flushing, and host renames.

`RrdWriter` (rrdwriter.py) writes RRD files through a store: librrd in this process
(store.Librrd) or an rrdcached daemon (rrdcached.Rrdcached). Its parts, one job each:

    table.py     the record of each file it has touched, and the values it holds
    schedule.py  when a file's values are written (CachePolicy; by age, at once, each read)
    making.py    making new files: their arguments, creator processes (creator.py), the ceiling
    disk.py      files whose create or write the disk refused, tried again
    marks.py     what this rrdd tells the other rrdd on the same directory
    hosts.py     drophost, renamehost, droptest, renametest

`MemoryWriter` records what it is given, for the golden tests. Nothing outside this
package imports rrdtool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rrdd.schema import Update

if TYPE_CHECKING:
    from rrdd.writer.schedule import CachePolicy
    from rrdd.xymoncfg import RraDefinitions


class Writer(Protocol):
    def write(self, host: str, test: str, timestamp: int, update: Update) -> None:
        """Accept one update; `test` (the column name) selects the RRA definitions."""

    def existing_ds(self, host: str, rrd: str) -> tuple[str, ...] | None:
        """The DS names of a host's RRD file, or None when it does not exist."""

    def flush(
        self, host: str | None = None, name: str | None = None, to_disk: bool = False
    ) -> list[str]:
        """Write every pending value of one file, one host or all hosts now; return the paths.

        With `to_disk` a cache daemon is asked to write them into the files too."""

    def reconfigure(self, rras: RraDefinitions, policy: CachePolicy) -> None:
        """Use new RRA definitions and cache policy from now on (a reload)."""

    def pending(self) -> int:
        """Values accepted and not yet written."""

    def sync(self) -> None:
        """Called between reads: write what the cache policy says is due."""

    def close(self) -> None:
        """Flush everything and release resources; called once at shutdown."""

    def drop_host(self, host: str) -> None:
        """Forget the host's pending values and delete its directory."""

    def rename_host(self, old: str, new: str) -> None:
        """Flush, then move the host's files to its new name."""

    def host_files(self, host: str) -> list[str]:
        """The RRD file names in the host's directory, and those it holds values for."""

    def drop_files(self, host: str, names: list[str]) -> None:
        """Forget pending values of these files of a host and delete them."""

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        """Flush, then rename files of a host (old name, new name)."""
