"""rrdd over NATS JetStream: a relay beside xymond, workers on as many machines as needed.

::

    xymond ─ xymond_channel ─ rrdd relay ─► stream RRDD ─┬─► rrdd worker 0/2 ─┐
                              (spool)     P partitions  └─► rrdd worker 1/2 ─┴─► RRD files
                                          on disk                        (rrdcached, or a
                                                                          shared directory)

`relay` reads the channel as rrdd does and publishes every message to the partition of its
host, fnv1a32(host token) % P, with an id the server uses to drop a message published
twice. `worker` consumes the partitions it owns (p % N == I) through one durable pull
consumer each, runs the messages through rrdd's own pipeline (daemon.Daemon) and
acknowledges them once their values are durable. `tools` holds `rrdd top`, `rrdd check`
and `rrdd send`; `common` what they all share: the connection, the stream and the
partitions. `options` (no NATS import) gives the command lines.

Nothing on stdin mode's path imports this package: nats-py is an optional dependency,
`pip install rrdd[nats]`.
"""
