"""`rrdd web`: a read-only view of the RRD tree, its graphs, and what rrdd refused.

    rrdd web --rrddir=/var/lib/xymon/rrd --listen=127.0.0.1:8468

A process of its own, so that no page ever holds up the channel. It reads three things
and writes none of them:

- the RRD tree (tree.py): hosts, their files, each file's DS, RRAs and last update,
  whether it is stale;
- Xymon's graphs.cfg (graphs.py), to draw a host's graphs as showgraph.cgi would, and an
  automatic graph of every DS of a file that graphs.cfg does not draw;
- the problems files the ingest processes write in `state_dir` (problems.py).

app.py maps URLs to pages and their JSON twins under /api; server.py serves it with
waitress. The ingest path (rrdd.cli's daemon) never imports this package.
"""
