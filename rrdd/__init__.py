"""rrdd: a drop-in replacement for the Xymon RRD worker (xymond_rrd)."""

__version__ = "0.1.0"
