"""rrdd's settings: one frozen model, built once from the command line and the environment.

The environment keeps Xymon's names, so rrdd runs unchanged from tasks.cfg with
xymonserver.cfg as its ENVFILE: XYMONRRDS (BBRRDS), XYMONTMP (BBTMP), XYMONHOME,
TEST2RRD, PINGCOLUMN, NCV_<test>, SPLITNCV_<test>, TRACKMAX, RRDDISKS, NORRDDISKS,
XYMONNETSVCS, XYMONCHANNEL_LOGFILENAME and MAXMSG_<channel>. The command line wins over
the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rrdd import logsetup
from rrdd.channel import DEFAULT_MAX_MESSAGE
from rrdd.dispatch import DEFAULT_TEST2RRD
from rrdd.errors import ConfigError

# DS types an NCV_<test> / SPLITNCV_<test> list may name (NONE drops the value).
NCV_TYPES = ("GAUGE", "COUNTER", "DERIVE", "ABSOLUTE", "DCOUNTER", "DDERIVE")

# xymond's channel buffer sizes in KB; the worker's input buffer fits the largest.
MAXMSG_DEFAULTS = {
    "STATUS": 256,
    "DATA": 256,
    "CLIENT": 512,
    "NOTES": 256,
    "ENADIS": 32,
    "USER": 128,
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rrddir: Path
    debug: bool = False
    cache: bool = True  # --no-cache turns the update cache off
    rrd: bool = True  # --no-rrd: create files but write no values
    extra_script: Path | None = None
    extra_tests: tuple[str, ...] = ()
    extra_timeout: float = Field(30.0, gt=0)  # seconds a script may run
    extra_workers: int = Field(4, ge=1)  # scripts running at once
    extra_persistent: bool = False
    rrdcached: str | None = None  # --rrdcached / RRDCACHED_ADDRESS
    cache_age: float = Field(3600.0, gt=0)  # seconds a value may wait in rrdd's cache
    writes_per_second: float = Field(0.0, ge=0)  # 0: no ceiling
    creates_per_second: float = Field(0.0, ge=0)
    processor: str | None = None
    processor_bufsize: int = Field(8192, ge=1)  # RRD_EXTPROC_BUFSIZ
    processor_flush: bool = False  # RRD_EXTPROC_DOFLUSH
    rrddefinitions: Path | None = None  # None: Xymon's built-in RRAs
    protocols: Path | None = None  # None: xymonnet's stock service list
    snmpmibs: Path | None = None  # $XYMONHOME/etc/snmpmibs.cfg, when it exists
    netsvcs: str | None = None  # XYMONNETSVCS
    xymonhome: Path | None = None
    tmpdir: Path | None = None  # XYMONTMP
    test2rrd: str = DEFAULT_TEST2RRD
    pingcolumn: str = "conn"
    ncv: dict[str, str] = {}
    splitncv: dict[str, str] = {}
    trackmax: tuple[str, ...] = ()
    rrddisks: str | None = None
    norrddisks: str | None = None
    logfile: Path | None = None  # XYMONCHANNEL_LOGFILENAME, reopened on @@logrotate
    log: dict[str, str] = {}  # severity (error, warning, info, debug) -> where its lines go
    user: str | None = None  # drop root to this user after start-up
    group: str | None = None
    metrics_listen: str | None = None  # HOST:PORT of the Prometheus /metrics endpoint
    max_pending: int = Field(2_000_000, ge=1000)  # values rrdd may hold before it sheds
    max_message: int = DEFAULT_MAX_MESSAGE

    @field_validator("ncv", "splitncv")
    @classmethod
    def _ncv_types(cls, value: dict[str, str]) -> dict[str, str]:
        for test, spec in value.items():
            for entry in filter(None, spec.split(",")):
                name, sep, dstype = entry.partition(":")
                if not sep or not (dstype in NCV_TYPES or dstype[:4].upper() == "NONE"):
                    raise ValueError(
                        f"{test}: {entry!r} is not NAME:TYPE with TYPE one of "
                        f"{', '.join(NCV_TYPES)} or NONE"
                    )
        return value

    @field_validator("log")
    @classmethod
    def _log(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            logsetup.check(value)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return value

    @field_validator("rrddisks", "norrddisks")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return value or None


def load_settings(options: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Build the Settings from parsed command-line options and the environment.

    `options` holds the command-line values (None when not given); raises ConfigError.
    """
    env = environ.get
    rrddir = options.get("rrddir") or env("XYMONRRDS") or env("BBRRDS")
    var = env("XYMONVAR") or env("BBVAR")
    if not rrddir and var:
        rrddir = str(Path(var) / "rrd")
    if not rrddir:
        raise ConfigError("no RRD directory: give --rrddir=DIR or set XYMONRRDS")
    home_env = env("XYMONHOME")
    home = Path(home_env) if home_env else None

    rrddefs = options.get("rrddefinitions")
    if rrddefs is None and home is not None and (home / "etc/rrddefinitions.cfg").is_file():
        rrddefs = home / "etc/rrddefinitions.cfg"
    protocols = snmpmibs = None
    if home is not None and (home / "etc/protocols.cfg").is_file():
        protocols = home / "etc/protocols.cfg"
    if home is not None and (home / "etc/snmpmibs.cfg").is_file():
        snmpmibs = home / "etc/snmpmibs.cfg"

    pingcolumn = env("PINGCOLUMN") or "conn"
    test2rrd = env("TEST2RRD")
    test2rrd = DEFAULT_TEST2RRD if test2rrd is None else test2rrd
    # xymonlaunch expands $PINGCOLUMN before the worker sees TEST2RRD; do it when run by hand.
    test2rrd = test2rrd.replace("${PINGCOLUMN}", pingcolumn).replace("$PINGCOLUMN", pingcolumn)

    fields: dict[str, Any] = {
        "rrddir": rrddir,
        "debug": bool(options.get("debug")),
        "cache": not options.get("no_cache"),
        "rrd": not options.get("no_rrd"),
        "extra_script": options.get("extra_script"),
        "extra_tests": tuple(t for t in (options.get("extra_tests") or "").split(",") if t),
        **{k: options[k] for k in ("extra_timeout", "extra_workers") if options.get(k) is not None},
        "extra_persistent": bool(options.get("extra_persistent")),
        "processor": options.get("processor"),
        "rrdcached": options.get("rrdcached") or env("RRDCACHED_ADDRESS") or None,
        **{
            k: options[k]
            for k in ("cache_age", "writes_per_second", "creates_per_second")
            if options.get(k) is not None
        },
        "processor_bufsize": env("RRD_EXTPROC_BUFSIZ") or 8192,
        "processor_flush": env("RRD_EXTPROC_DOFLUSH") is not None,
        "rrddefinitions": rrddefs,
        "protocols": protocols,
        "snmpmibs": snmpmibs,
        "netsvcs": env("XYMONNETSVCS"),
        "xymonhome": home,
        "tmpdir": env("XYMONTMP") or env("BBTMP") or None,
        "test2rrd": test2rrd,
        "pingcolumn": pingcolumn,
        "ncv": {k[4:]: v for k, v in environ.items() if k.startswith("NCV_") and k[4:]},
        "splitncv": {k[9:]: v for k, v in environ.items() if k.startswith("SPLITNCV_") and k[9:]},
        "trackmax": tuple(t for t in (env("TRACKMAX") or "").split(",") if t),
        "rrddisks": env("RRDDISKS"),
        "norrddisks": env("NORRDDISKS"),
        "logfile": env("XYMONCHANNEL_LOGFILENAME") or None,
        "max_message": _max_message(environ),
        **{
            k: options[k] for k in ("user", "group", "metrics_listen") if options.get(k) is not None
        },
    }
    try:
        return Settings(**fields)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(problems) from None


def _max_message(environ: Mapping[str, str]) -> int:
    """xymond_worker's input limit: the largest MAXMSG_<channel> (KB) plus 4095 bytes."""
    sizes = []
    for channel, default in MAXMSG_DEFAULTS.items():
        try:
            size = int(environ.get(f"MAXMSG_{channel}", default))
        except ValueError:
            raise ConfigError(f"MAXMSG_{channel}: not a number") from None
        if size > 32768:  # given in bytes
            size //= 1024
        sizes.append(size if size >= 32 else default)
    return 1024 * max(sizes) + 4095
