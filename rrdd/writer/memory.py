"""A writer that keeps what it receives in a list: for tests and parser debugging."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rrdd.schema import Update


@dataclass
class MemoryWriter:
    records: list[dict[str, Any]] = field(default_factory=list)

    def write(self, host: str, test: str, timestamp: int, update: Update) -> None:
        self.records.append(
            {
                "host": host,
                "rrd": update.rrd,
                "ds": list(update.schema.defs),
                "template": update.schema.template,
                "update": update.row(timestamp),
                **({"step": update.step} if update.step != 300 else {}),
                **({"track_max": True} if update.track_max else {}),
            }
        )

    def existing_ds(self, host: str, rrd: str) -> tuple[str, ...] | None:
        """The DS names the file got from its first update, as a created file would."""
        for r in self.records:
            if r["host"] == host and r["rrd"] == rrd:
                return tuple(d.split(":")[1] for d in r["ds"])
        return None

    def flush(
        self, host: str | None = None, name: str | None = None, to_disk: bool = False
    ) -> list[str]:
        return []

    def sync(self) -> None:
        pass

    def reconfigure(self, rras: object, policy: object) -> None:
        pass

    def pending(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def drop_host(self, host: str) -> None:
        self.records = [r for r in self.records if r["host"] != host]

    def rename_host(self, old: str, new: str) -> None:
        for r in self.records:
            if r["host"] == old:
                r["host"] = new

    def host_files(self, host: str) -> list[str]:
        return sorted({r["rrd"] for r in self.records if r["host"] == host})

    def drop_files(self, host: str, names: list[str]) -> None:
        gone = set(names)
        self.records = [r for r in self.records if not (r["host"] == host and r["rrd"] in gone)]

    def rename_files(self, host: str, renames: list[tuple[str, str]]) -> None:
        new = dict(renames)
        for r in self.records:
            if r["host"] == host and r["rrd"] in new:
                r["rrd"] = new[r["rrd"]]
