"""What rrdd counts: every event declared once, with the metric family it feeds.

Each `Event` names its key in the shutdown log's "Totals:" line, its Prometheus family
and the value of the family's label: fixed here (``VALUES_SHED`` is
``rrdd_values_lost_total{reason="shed"}``), or given when counted for the five events
of a message kind or handler::

    counts.add(Event.VALUES_SHED)
    counts.add(Event.UPDATES, len(updates), hid)   # rrdd_updates_total{handler=hid}

`FAMILIES` holds each family's help text and label name, and nothing else makes a
series: a new event is a new member here, its family's row, and a line in rrdd.8's
METRICS (tests check all three). Values lost (``rrdd_values_lost_total``) are kept
apart from values dropped on purpose (``rrdd_updates_dropped_total``, an old timestamp).

`Counts` holds one process's counts by (event, label). Only the main thread adds to
it; the metrics thread copies it (`snapshot`, one C call). Several processes' counts
travel as JSON (`to_json`) and are summed by metrics.merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True, slots=True)
class Family:
    help: str
    label: str | None = None  # the label's name; None: one series


FAMILIES: dict[str, Family] = {
    "rrdd_messages_total": Family(
        "Channel messages read, by kind (status, data or a control message).", "kind"
    ),
    "rrdd_messages_ignored_total": Family(
        "Messages read but not written: no handler for the test, a reverse test, or a "
        "status colour without fresh data (purple).",
        "reason",
    ),
    "rrdd_channel_errors_total": Family(
        "Damaged or unreadable input on the channel, by what was wrong.", "reason"
    ),
    "rrdd_updates_total": Family("RRD updates made by each handler.", "handler"),
    "rrdd_parse_errors_total": Family("Messages a handler could not read.", "handler"),
    "rrdd_parser_bugs_total": Family(
        "Messages a handler failed on with an unexpected exception: a bug in rrdd.", "handler"
    ),
    "rrdd_values_lost_total": Family(
        "Values received and not stored, by why: shed (more than max_pending held), "
        "rejected (by librrd or rrdcached), refused (an unsafe name, a string librrd must "
        "not get), open (the file could not be read or made), create_failed (the file was "
        "never made), rename (a renamed file has other DS), disk (the disk still refused "
        "them at shutdown), rrdcached (unreachable at shutdown).",
        "reason",
    ),
    "rrdd_updates_dropped_total": Family(
        "Values dropped on purpose: not newer than the file's last update, or of a host "
        "the other rrdd dropped.",
        "reason",
    ),
    "rrdd_write_errors_total": Family(
        "Writer troubles that lose no value by themselves: ds_mismatch (the file lacks DS "
        "of the update: those values are dropped), disk (a create or write the disk "
        "refused: its values are kept and tried again), creator_crash (a file's creation "
        "killed a worker process: the file is refused).",
        "reason",
    ),
    "rrdd_rrd_creates_total": Family("RRD files created."),
    "rrdd_rrd_creates_deferred_total": Family(
        "New RRD files whose creation waited for the create ceiling."
    ),
    "rrdd_rrd_writes_total": Family("Writes of cached values to an RRD file or rrdcached."),
    "rrdd_values_written_total": Family("Update rows written to RRD files or rrdcached."),
    "rrdd_rrdcached_reconnects_total": Family("Connections made again to rrdcached."),
    "rrdd_extra_script_runs_total": Family("Messages answered by the --extra-script."),
    "rrdd_extra_script_timeouts_total": Family("--extra-script runs killed at the timeout."),
    "rrdd_extra_script_errors_total": Family(
        "--extra-script answers with unusable lines, or refused for their size."
    ),
    "rrdd_processor_lines_total": Family("Lines copied to the --processor command."),
    "rrdd_processor_lines_lost_total": Family("Lines the --processor command did not get."),
    "rrdd_flush_requests_total": Family(
        "Flush requests answered (showgraph.cgi, rrdd flush, rrdd web)."
    ),
    "rrdd_hosts_released_total": Family(
        "Hosts a --workers worker wrote out and let go, as a renamehost gave them to another."
    ),
    "rrdd_file_records_pruned_total": Family(
        "Times rrdd held records of max_files files and forgot the idle ones."
    ),
    "rrdd_relay_messages_total": Family("Channel messages rrdd relay read to publish."),
    "rrdd_relay_published_total": Family("Messages NATS acknowledged to rrdd relay."),
    "rrdd_relay_duplicates_total": Family(
        "Messages NATS acknowledged as copies of ones it had (published again after a "
        "lost connection)."
    ),
    "rrdd_relay_spooled_total": Family("Messages rrdd relay put in its spool."),
    "rrdd_relay_replayed_total": Family("Messages rrdd relay published again from its spool."),
    "rrdd_relay_swapped_total": Family(
        "Messages a partition stored before an earlier one its stream had refused."
    ),
    "rrdd_relay_messages_lost_total": Family(
        "Messages rrdd relay could not pass on: spool_full (the spool had no room), "
        "unroutable (no host in the header).",
        "reason",
    ),
    "rrdd_nats_messages_total": Family("Messages rrdd worker took from its partitions."),
    "rrdd_nats_redelivered_total": Family(
        "Messages NATS delivered to rrdd worker again (not acknowledged before)."
    ),
    "rrdd_nats_duplicate_values_total": Family(
        "Values of redelivered messages that their files already had (dropped)."
    ),
    "rrdd_nats_commit_retries_total": Family(
        "Times rrdd worker could not make its values durable and tried again."
    ),
    "rrdd_nats_acked_total": Family("Messages rrdd worker acknowledged, their values durable."),
    "rrdd_nats_gaps_total": Family(
        "Times rrdd worker found deliveries lost on the way (a server went away) and waited."
    ),
}


class Event(Enum):
    """Everything rrdd counts: (Totals key, family, label value; None: given when counted)."""

    # Members are singletons, so identity is equality: object's hash, in C, spares the
    # hot path Enum's own, which runs Python code for each count.
    __hash__ = object.__hash__

    MESSAGES = ("messages", "rrdd_messages_total", None)  # label: status or data
    CONTROLS = ("controls", "rrdd_messages_total", None)  # label: the control kind
    UNHANDLED_TESTS = ("unhandled_tests", "rrdd_messages_ignored_total", "no_handler")
    REVERSE_TESTS = ("reverse_tests", "rrdd_messages_ignored_total", "reverse_test")
    IGNORED_COLOR = ("ignored_color", "rrdd_messages_ignored_total", "color")
    GARBAGE = ("garbage", "rrdd_channel_errors_total", "garbage")
    DUPLICATE = ("duplicate", "rrdd_channel_errors_total", "duplicate")
    BAD_CHECKSUM = ("bad_checksum", "rrdd_channel_errors_total", "bad_checksum")
    OVERSIZE = ("oversize", "rrdd_channel_errors_total", "oversize")
    UNTERMINATED = ("unterminated", "rrdd_channel_errors_total", "unterminated")
    IGNORED_SHORT = ("ignored_short", "rrdd_channel_errors_total", "short")
    IGNORED_UNKNOWN = ("ignored_unknown", "rrdd_channel_errors_total", "unknown")
    UPDATES = ("updates", "rrdd_updates_total", None)  # label: the handler id
    PARSE_ERRORS = ("parse_errors", "rrdd_parse_errors_total", None)  # the handler id
    PARSER_BUGS = ("parser_bugs", "rrdd_parser_bugs_total", None)  # the handler id
    VALUES_SHED = ("values_shed", "rrdd_values_lost_total", "shed")
    UPDATES_REJECTED = ("updates_rejected", "rrdd_values_lost_total", "rejected")
    UPDATES_REFUSED = ("updates_refused", "rrdd_values_lost_total", "refused")
    RRD_OPEN_ERRORS = ("rrd_open_errors", "rrdd_values_lost_total", "open")
    VALUES_NOT_CREATED = ("values_not_created", "rrdd_values_lost_total", "create_failed")
    VALUES_NOT_MOVED = ("values_not_moved", "rrdd_values_lost_total", "rename")
    VALUES_LOST_DISK = ("values_lost_disk", "rrdd_values_lost_total", "disk")
    VALUES_LOST_RRDCACHED = ("values_lost_rrdcached", "rrdd_values_lost_total", "rrdcached")
    UPDATES_DROPPED_OLD = ("updates_dropped_old", "rrdd_updates_dropped_total", "old_timestamp")
    VALUES_OF_DROPPED_HOSTS = (
        "values_of_dropped_hosts",
        "rrdd_updates_dropped_total",
        "host_dropped",
    )
    DS_MISMATCHES = ("ds_mismatches", "rrdd_write_errors_total", "ds_mismatch")
    DISK_ERRORS = ("disk_errors", "rrdd_write_errors_total", "disk")
    CREATOR_CRASHES = ("creator_crashes", "rrdd_write_errors_total", "creator_crash")
    RRD_CREATES = ("rrd_creates", "rrdd_rrd_creates_total", "")
    CREATES_DEFERRED = ("creates_deferred", "rrdd_rrd_creates_deferred_total", "")
    RRD_WRITES = ("rrd_writes", "rrdd_rrd_writes_total", "")
    VALUES_WRITTEN = ("values_written", "rrdd_values_written_total", "")
    RRDCACHED_RECONNECTS = ("rrdcached_reconnects", "rrdd_rrdcached_reconnects_total", "")
    EXTRA_RUNS = ("extra_runs", "rrdd_extra_script_runs_total", "")
    EXTRA_TIMEOUTS = ("extra_timeouts", "rrdd_extra_script_timeouts_total", "")
    EXTRA_ERRORS = ("extra_errors", "rrdd_extra_script_errors_total", "")
    PROCESSOR_LINES = ("processor_lines", "rrdd_processor_lines_total", "")
    PROCESSOR_LINES_LOST = ("processor_lines_lost", "rrdd_processor_lines_lost_total", "")
    FLUSH_REQUESTS = ("flush_requests", "rrdd_flush_requests_total", "")
    HOSTS_RELEASED = ("hosts_released", "rrdd_hosts_released_total", "")
    FILE_RECORDS_DROPPED = ("file_records_dropped", "rrdd_file_records_pruned_total", "")
    RELAY_MESSAGES = ("relay_messages", "rrdd_relay_messages_total", "")
    RELAY_PUBLISHED = ("relay_published", "rrdd_relay_published_total", "")
    RELAY_DUPLICATES = ("relay_duplicates", "rrdd_relay_duplicates_total", "")
    RELAY_SPOOLED = ("relay_spooled", "rrdd_relay_spooled_total", "")
    RELAY_REPLAYED = ("relay_replayed", "rrdd_relay_replayed_total", "")
    RELAY_SWAPPED = ("relay_swapped", "rrdd_relay_swapped_total", "")
    RELAY_SPOOL_OVERFLOW = ("relay_spool_overflow", "rrdd_relay_messages_lost_total", "spool_full")
    RELAY_UNROUTABLE = ("relay_unroutable", "rrdd_relay_messages_lost_total", "unroutable")
    NATS_MESSAGES = ("nats_messages", "rrdd_nats_messages_total", "")
    NATS_REDELIVERED = ("nats_redelivered", "rrdd_nats_redelivered_total", "")
    NATS_DUPLICATE_VALUES = ("nats_duplicate_values", "rrdd_nats_duplicate_values_total", "")
    NATS_COMMIT_RETRIES = ("nats_commit_retries", "rrdd_nats_commit_retries_total", "")
    NATS_ACKED = ("nats_acked", "rrdd_nats_acked_total", "")
    NATS_GAPS = ("nats_gaps", "rrdd_nats_gaps_total", "")

    def __init__(self, key: str, family: str, label: str | None) -> None:
        self.key = key
        self.family = family
        self.label = label  # "" for a family without a label

    def total_name(self, label: str) -> str:
        """Its name in the Totals line: the key, and the label when given when counted."""
        return self.key if self.label is not None else f"{self.key}_{label}"


Key = tuple[Event, str]  # an event and the label given when it was counted ("" if none)


class Counts:
    """One process's counts, by event and label."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[Key, int] = {}

    def add(self, event: Event, n: int = 1, label: str = "") -> None:
        """Count `n` of `event`; `label` only for the events whose label is given here."""
        key = (event, label)
        self._counts[key] = self._counts.get(key, 0) + n

    def get(self, event: Event, label: str = "") -> int:
        return self._counts.get((event, label), 0)

    def __getitem__(self, event: Event) -> int:
        """The event's count, over all its labels."""
        if not isinstance(event, Event):  # a name ("values_written") would count as 0
            raise TypeError(f"counts are read by Event, not {event!r}")
        return sum(n for (e, _), n in list(self._counts.items()) if e is event)

    def snapshot(self) -> dict[Key, int]:
        """A copy, safe to take from another thread: dict() copies in one C call, so a
        key the main thread adds meanwhile cannot break it."""
        return dict(self._counts)

    def totals(self) -> dict[str, int]:
        return totals(self._counts)


def totals(counts: Mapping[Key, int]) -> dict[str, int]:
    """The counts by their names in the Totals line ("values_written", "updates_la")."""
    return {event.total_name(label): n for (event, label), n in counts.items()}


def to_json(counts: Mapping[Key, int]) -> dict[str, dict[str, int]]:
    """{event name: {label: count}}, the event names being Event's member names."""
    out: dict[str, dict[str, int]] = {}
    for (event, label), n in counts.items():
        out.setdefault(event.name, {})[label] = n
    return out


def from_json(data: Any) -> dict[Key, int]:
    """What to_json gave; an event this version does not know is left out. TypeError,
    AttributeError or ValueError when `data` is not such a thing."""
    counts: dict[Key, int] = {}
    for name, labels in data.items():
        event = Event.__members__.get(name)
        if event is not None:
            for label, n in labels.items():
                counts[event, str(label)] = int(n)
    return counts


def labels_of(family: str, events: Iterable[Event] = Event) -> list[str]:
    """The label values the events give a family by themselves (shown as 0 at start)."""
    return [e.label for e in events if e.family == family and e.label]
