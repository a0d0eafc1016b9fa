"""bea: BEA WebLogic JRockit memory and execute queues, Hobbit 4.2 style.

Handles: bea

Sample body (xymonnet's ``beastat``, one data message per JRockit runtime or execute
queue, the lines of ``snmpwalk -m BEA-WEBLOGIC-MIB``)::

    data wls1,example,com.bea

    DOMAIN:proddomain
    BEA-WEBLOGIC-MIB::jrockitRuntimeIndex."rt1" = STRING: "rt1"
    BEA-WEBLOGIC-MIB::jrockitRuntimeParent."rt1" = STRING: "proddomain:managed1"
    BEA-WEBLOGIC-MIB::jrockitRuntimeFreeHeap."rt1" = INTEGER: 104857600
    ...

Xymon 4.3 dropped this handler (HEAD has none for ``bea``) while xymonnet still sends
these messages; rrdd keeps Hobbit 4.2's. Every ``jrockitRuntimeIndex`` and
``executeQueueRuntimeIndex`` line names an index (the text in the first pair of quotes
after the ``=``); its values are the ``<key>."<index>" = INTEGER:`` lines (0 when
missing) and its names the ``= STRING:`` ones. The server is the runtime's ``Parent``
after its first ``:``; the domain is the text after ``DOMAIN:`` to the end of its
line. Indexes are written last first, as Hobbit did. Names are used as they are (no
space or slash replacement, as in 4.2).

Writes:
    bea.memory.<domain>.<server>.rrd (bea.memory.<server>.rrd without DOMAIN:)
        freeheap, usedheap, totalheap, freephysmem, usedphysmem, totalphysmem,
        totalthreads, daemonthreads, nurserysize (GAUGE)
    bea.threads.<domain>.<server>.<queue>.rrd (bea.threads.<server>.<queue>.rrd)
        currentidlecount (GAUGE), currentcount (GAUGE), totalcount (DERIVE)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.cnum import strtoll
from rrdd.context import Context
from rrdd.parsers import register
from rrdd.schema import Schema, Update

MEMORY_SCHEMA = Schema.of(
    "DS:freeheap:GAUGE:600:0:U",
    "DS:usedheap:GAUGE:600:0:U",
    "DS:totalheap:GAUGE:600:0:U",
    "DS:freephysmem:GAUGE:600:0:U",
    "DS:usedphysmem:GAUGE:600:0:U",
    "DS:totalphysmem:GAUGE:600:0:U",
    "DS:totalthreads:GAUGE:600:0:U",
    "DS:daemonthreads:GAUGE:600:0:U",
    "DS:nurserysize:GAUGE:600:0:U",
)
THREADS_SCHEMA = Schema.of(
    "DS:currentidlecount:GAUGE:600:0:U",
    "DS:currentcount:GAUGE:600:0:U",
    "DS:totalcount:DERIVE:600:0:U",
)

MIB = "BEA-WEBLOGIC-MIB::"
MEMORY_KEYS = tuple(
    "jrockitRuntime" + k
    for k in (
        "FreeHeap",
        "UsedHeap",
        "TotalHeap",
        "FreePhysicalMemory",
        "UsedPhysicalMemory",
        "TotalPhysicalMemory",
        "TotalNumberOfThreads",
        "NumberOfDaemonThreads",
        "TotalNurserySize",
    )
)
THREADS_KEYS = tuple(
    "executeQueueRuntime" + k
    for k in (
        "ExecuteThreadCurrentIdleCount",
        "PendingRequestCurrentCount",
        "ServicedRequestTotalCount",
    )
)
STRING_MAX = 1023  # Hobbit copies a string value into a 1024-byte buffer
BLANKS_AND_LINE = re.compile(r"[ \t]*([^\n]*)")
INTEGER = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")  # what atol() reads
STRING = re.compile(r'[ \t"]*([^"\r\n]*)')


@register("bea", files=("bea.memory.*.rrd", "bea.threads.*.rrd"))
def parse(msg: Message, ctx: Context) -> Iterator[Update]:
    body = msg.body
    domain = ""
    pos = body.find("\nDOMAIN:")
    if pos >= 0:
        m = BLANKS_AND_LINE.match(body, pos + 8)
        assert m is not None  # both parts may be empty
        domain = m.group(1) + "."

    for idx in _indexes(body, "jrockitRuntimeIndex"):
        parent = _string(body, "jrockitRuntimeParent", idx)
        if parent is None:
            continue
        values = tuple(_integer(body, key, idx) for key in MEMORY_KEYS)
        yield Update(f"bea.memory.{domain}{_server(parent)}.rrd", MEMORY_SCHEMA, values)

    for idx in _indexes(body, "executeQueueRuntimeIndex"):
        queue = _string(body, "executeQueueRuntimeName", idx)
        parent = _string(body, "executeQueueRuntimeParent", idx) if queue is not None else None
        if queue is None or parent is None:
            continue
        values = tuple(_integer(body, key, idx) for key in THREADS_KEYS)
        rrd = f"bea.threads.{domain}{_server(parent)}.{queue}.rrd"
        yield Update(rrd, THREADS_SCHEMA, values)


def _indexes(body: str, key: str) -> list[str]:
    """The quoted index of every ``\\n<MIB><key>.`` line, last one first."""
    marker = f"\n{MIB}{key}."
    found: list[str] = []
    pos = body.find(marker)
    while pos >= 0:
        end = body.find("\n", pos + 1)
        line = body[pos + 1 : end if end >= 0 else len(body)]
        eq = line.find("=")
        left = line.find('"', eq) if eq >= 0 else -1
        right = line.find('"', left + 1) if left >= 0 else -1
        # Hobbit crashes on an index line without '=' or a quoted value; rrdd skips it.
        if right >= 0:
            found.append(line[left + 1 : right])
        pos = body.find(marker, pos + 1)
    found.reverse()  # Hobbit prepends each index to its list
    return found


def _integer(body: str, key: str, idx: str) -> str:
    """atol() of the INTEGER value, printed with %ld; 0 when the line is missing."""
    marker = f'\n{MIB}{key}."{idx}" = INTEGER: '
    pos = body.find(marker)
    m = INTEGER.match(body, pos + len(marker)) if pos >= 0 else None
    return str(strtoll(m.group(1))) if m else "0"


def _string(body: str, key: str, idx: str) -> str | None:
    """The STRING value without its quotes and leading blanks, or None when missing."""
    marker = f'\n{MIB}{key}."{idx}" = STRING: '
    pos = body.find(marker)
    if pos < 0:
        return None
    m = STRING.match(body, pos + len(marker))
    assert m is not None  # both parts may be empty
    return m.group(1)[:STRING_MAX]


def _server(parent: str) -> str:
    return parent.split(":", 1)[1] if ":" in parent else parent
