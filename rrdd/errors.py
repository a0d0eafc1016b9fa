"""The exceptions rrdd raises on purpose.

    RrddError
     +-- ConfigError    bad option, environment value or configuration file; exit code 2
     +-- StartError     something rrdd was told to use cannot be had at start (the RRD
     |                  directory, rrdcached, the flush socket, the user); exit code 1
     +-- ParseError     a parser cannot read a message; the dispatcher logs it and goes on

The channel reader raises nothing: garbage on stdin is logged, counted and skipped.
"""


class RrddError(Exception):
    """Base class of every error rrdd raises on purpose."""


class ConfigError(RrddError):
    """A setting or configuration file is wrong; start-up stops with exit code 2."""


class StartError(RrddError):
    """Something rrdd was told to use cannot be had; start-up stops with exit code 1."""


class ParseError(RrddError):
    """A message cannot be read by its parser."""
