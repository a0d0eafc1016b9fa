"""beastat: BEA WebLogic statistics from hobbit-perl-client's beastat.pl.

Handles: JVM, JMS, JTA, ExecQueue, JDBCConn

Sample body (``ExecQueue``; the report lines are indented with tabs)::

    status wls01,example,com.ExecQueue green Sun Nov 22 02:01:11 UTC 2026 Execute queues OK
    ---- Full Status Report ----
        Type=ExecuteQueueRuntime - Location=admin - Name=weblogic.kernel.Default
                ExecuteThreadCurrentIdleCount: 13
                ExecuteThreadTotalCount: 15
                PendingRequestCurrentCount: 0
                ServicedRequestTotalCount: 48213
        Type=ExecuteQueueRuntime - Location=admin - Name=weblogic.kernel.System
                ...
    beastat.pl version 1.15

Every DS has minimum 0 and maximum U. A handler writes nothing unless the body contains
``beastat.pl``. Each value is read from the first line holding its key (a substring
match: ``NumAvailable`` also finds ``HighestNumAvailable`` when that comes first), after
the first ``:`` (else ``=``); a missing key reads as 0, as in xymond. JVM, JMS and JTA
read the whole body.

ExecQueue and JDBCConn read, after the ``---- Full Status Report ----`` line, one block
per header line holding ``Type=ExecuteQueueRuntime`` (``Type=JDBCConnectionPoolRuntime``)
and ``Name=``: the name is the rest of that line, the block ends at the next header of
the same type or at ``dbcheck.pl`` (xymond's choice), else at the end of the body.

Writes:
    <test>.rrd (JVM)   HeapFreeCurrent HeapSizeCurrent (GAUGE)
    <test>.rrd (JMS)   CurrConn HighConn (GAUGE) TotalConn (DERIVE) CurrJMSSrv HighJMSSrv
                       (GAUGE) TotalJMSSrv (DERIVE)
    <test>.rrd (JTA)   ActiveTrans (GAUGE) SecondsActive TransAbandoned TransCommitted
                       TransHeuristics TransRBackApp TransRBackResource TransRBackSystem
                       TransRBackTimeout TransRBack TransTotCount (DERIVE)
    <test>,<queue>.rrd (ExecQueue)   ExecThrCurrIdleCnt ExecThrTotalCnt PendReqCurrCnt
                                     (GAUGE) ServReqTotalCnt (DERIVE)
    <test>,<pool>.rrd (JDBCConn)     ActConnAvgCnt ActConnCurrCnt ActConnHighCnt
                       WtForConnCurrCnt ConnDelayTime ConnLeakProfileCnt LeakedConnCnt
                       MaxCapacity NumAvailable NumUnavailable HighNumAvailable
                       HighNumUnavailable WaitSecHighCnt (GAUGE) ConnTotalCnt
                       FailToReconnCnt (DERIVE) WaitForConnHighCnt (GAUGE)
"""

from __future__ import annotations

from collections.abc import Iterator

from rrdd.channel import Message
from rrdd.context import Context
from rrdd.parsers import Parser, register
from rrdd.parsers._fdlib import get_long
from rrdd.schema import Schema, Update, commas, rrdname

MARKER = "beastat.pl"
REPORT = "---- Full Status Report ----"

# (DS name, the key beastat.pl writes, DS type), in DS order
JVM = (
    ("HeapFreeCurrent", "HeapFreeCurrent", "GAUGE"),
    ("HeapSizeCurrent", "HeapSizeCurrent", "GAUGE"),
)
JMS = (
    ("CurrConn", "ConnectionsCurrentCount", "GAUGE"),
    ("HighConn", "ConnectionsHighCount", "GAUGE"),
    ("TotalConn", "ConnectionsTotalCount", "DERIVE"),
    ("CurrJMSSrv", "JMSServersCurrentCount", "GAUGE"),
    ("HighJMSSrv", "JMSServersHighCount", "GAUGE"),
    ("TotalJMSSrv", "JMSServersTotalCount", "DERIVE"),
)
JTA = (
    ("ActiveTrans", "ActiveTransactionsTotalCount", "GAUGE"),
    ("SecondsActive", "SecondsActiveTotalCount", "DERIVE"),
    ("TransAbandoned", "TransactionAbandonedTotalCount", "DERIVE"),
    ("TransCommitted", "TransactionCommittedTotalCount", "DERIVE"),
    ("TransHeuristics", "TransactionHeuristicsTotalCount", "DERIVE"),
    ("TransRBackApp", "TransactionRolledBackAppTotalCount", "DERIVE"),
    ("TransRBackResource", "TransactionRolledBackResourceTotalCount", "DERIVE"),
    ("TransRBackSystem", "TransactionRolledBackSystemTotalCount", "DERIVE"),
    ("TransRBackTimeout", "TransactionRolledBackTimeoutTotalCount", "DERIVE"),
    ("TransRBack", "TransactionRolledBackTotalCount", "DERIVE"),
    ("TransTotCount", "TransactionTotalCount", "DERIVE"),
)
EXECQUEUE = (
    ("ExecThrCurrIdleCnt", "ExecuteThreadCurrentIdleCount", "GAUGE"),
    ("ExecThrTotalCnt", "ExecuteThreadTotalCount", "GAUGE"),
    ("PendReqCurrCnt", "PendingRequestCurrentCount", "GAUGE"),
    ("ServReqTotalCnt", "ServicedRequestTotalCount", "DERIVE"),
)
JDBCCONN = (
    ("ActConnAvgCnt", "ActiveConnectionsAverageCount", "GAUGE"),
    ("ActConnCurrCnt", "ActiveConnectionsCurrentCount", "GAUGE"),
    ("ActConnHighCnt", "ActiveConnectionsHighCount", "GAUGE"),
    ("WtForConnCurrCnt", "WaitingForConnectionCurrentCount", "GAUGE"),
    ("ConnDelayTime", "ConnectionDelayTime", "GAUGE"),
    ("ConnLeakProfileCnt", "ConnectionLeakProfileCount", "GAUGE"),
    ("LeakedConnCnt", "LeakedConnectionCount", "GAUGE"),
    ("MaxCapacity", "MaxCapacity", "GAUGE"),
    ("NumAvailable", "NumAvailable", "GAUGE"),
    ("NumUnavailable", "NumUnavailable", "GAUGE"),
    ("HighNumAvailable", "HighestNumAvailable", "GAUGE"),
    ("HighNumUnavailable", "HighestNumUnavailable", "GAUGE"),
    ("WaitSecHighCnt", "WaitSecondsHighCount", "GAUGE"),
    ("ConnTotalCnt", "ConnectionsTotalCount", "DERIVE"),
    ("FailToReconnCnt", "FailuresToReconnectCount", "DERIVE"),
    ("WaitForConnHighCnt", "WaitingForConnectionHighCount", "GAUGE"),
)


def schema(table: tuple[tuple[str, str, str], ...]) -> Schema:
    return Schema.of(*(f"DS:{ds}:{kind}:600:0:U" for ds, _, kind in table))


JVM_SCHEMA = schema(JVM)
JMS_SCHEMA = schema(JMS)
JTA_SCHEMA = schema(JTA)
EXECQUEUE_SCHEMA = schema(EXECQUEUE)
JDBCCONN_SCHEMA = schema(JDBCCONN)


def _values(text: str, table: tuple[tuple[str, str, str], ...]) -> tuple[str, ...]:
    return tuple(get_long(text, key) for _, key, _ in table)


def _summary(table: tuple[tuple[str, str, str], ...], layout: Schema) -> Parser:
    """A handler writing <test>.rrd from keys anywhere in the body."""

    def parse(msg: Message, ctx: Context) -> Iterator[Update]:
        if MARKER in msg.body:
            yield Update(rrdname(f"{msg.testname}.rrd"), layout, _values(msg.body, table))

    return parse


def _per_block(table: tuple[tuple[str, str, str], ...], layout: Schema, header: str) -> Parser:
    """A handler writing <test>,<name>.rrd for each `header` block of the full report."""

    def parse(msg: Message, ctx: Context) -> Iterator[Update]:
        if MARKER in msg.body:
            for name, block in _blocks(msg.body, header):
                yield Update(
                    rrdname(f"{msg.testname},{commas(name)}.rrd"), layout, _values(block, table)
                )

    return parse


def _blocks(body: str, header: str) -> Iterator[tuple[str, str]]:
    """(name, text) of each block of the full status report that starts with `header`."""
    pos = body.find(REPORT)
    cur = body.find("\n", pos) if pos >= 0 else -1
    if cur < 0:
        return
    while True:
        start = body.find(header, cur + 1)
        eol = body.find("\n", start) if start >= 0 else -1
        if eol < 0:
            return  # no further header, or one on the last line: nothing follows it
        name_at = body.find("Name=", start, eol)
        if name_at < 0:
            cur = eol
            continue
        nxt = body.find(header, eol + 1)
        if nxt < 0:
            # xymond looks for dbcheck.pl here, not beastat.pl
            nxt = body.find("dbcheck.pl", eol + 1)
        if nxt < 0:
            yield body[name_at + 5 : eol], body[eol + 1 :]
            return
        # xymond ends the block one character before the next header; when that is the
        # header's own newline the block is unterminated and runs to the end of the body.
        end = nxt - 1 if nxt > eol + 1 else len(body)
        yield body[name_at + 5 : eol], body[eol + 1 : end]
        cur = nxt - 1


parse_jvm = register("JVM", files=("{test}.rrd",))(_summary(JVM, JVM_SCHEMA))
parse_jms = register("JMS", files=("{test}.rrd",))(_summary(JMS, JMS_SCHEMA))
parse_jta = register("JTA", files=("{test}.rrd",))(_summary(JTA, JTA_SCHEMA))
parse_execqueue = register("ExecQueue", files=("{test},*.rrd",))(
    _per_block(EXECQUEUE, EXECQUEUE_SCHEMA, "Type=ExecuteQueueRuntime")
)
parse_jdbcconn = register("JDBCConn", files=("{test},*.rrd",))(
    _per_block(JDBCCONN, JDBCCONN_SCHEMA, "Type=JDBCConnectionPoolRuntime")
)
