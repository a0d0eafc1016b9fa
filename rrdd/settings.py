"""rrdd's settings: one frozen model, built once from the command line and the environment.

The environment keeps Xymon's names, so rrdd runs unchanged from tasks.cfg with
xymonserver.cfg as its ENVFILE: XYMONRRDS (BBRRDS), XYMONTMP (BBTMP), XYMONHOME,
TEST2RRD, PINGCOLUMN, NCV_<test>, SPLITNCV_<test>, TRACKMAX, RRDDISKS, NORRDDISKS, GRAPHS,
XYMONNETSVCS, XYMONCHANNEL_LOGFILENAME and MAXMSG_<channel>. The command line wins over
the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rrdd import logsetup
from rrdd.errors import ConfigError

if TYPE_CHECKING:
    from rrdd.config import FileSettings

# xymonserver.cfg's TEST2RRD, which every Xymon installation has in its environment.
DEFAULT_TEST2RRD = (
    "cpu=la,disk,inode,qtree,memory,$PINGCOLUMN=tcp,http=tcp,dns=tcp,dig=tcp,time=ntpstat,"
    "ntp=tcp,vmstat,iostat,netstat,temperature,apache,bind,sendmail,mailq,nmailq=mailq,socks,"
    "bea,iishealth,citrix,bbgen,bbtest,bbproxy,hobbitd,files,procs=processes,ports,clock,lines,"
    "deltalines,ops,stats,cifs,JVM,JMS,HitCache,Session,JDBCConn,ExecQueue,JTA,TblSpace,"
    "RollBack,MemReq,InvObj,snapmirr,snaplist,snapshot,if_load=devmon,temp=devmon,paging,mdc,"
    "mdchitpct,cics,dsa,getvis,maxuser,nparts,xymongen,xymonnet,xymonproxy,xymond"
)

# DS types an NCV_<test> / SPLITNCV_<test> list may name (NONE drops the value).
NCV_TYPES = ("GAUGE", "COUNTER", "DERIVE", "ABSOLUTE", "DCOUNTER", "DDERIVE")

# Xymon's GRAPHS (xymonserver.cfg): which graphs.cfg section draws which RRD files, by the
# files' name prefix; "name::N" puts at most N files in one graph. `rrdd web` reads it.
DEFAULT_GRAPHS = (
    "la,disk,inode,qtree,files,processes,memory,users,vmstat,iostat,tcp.http,tcp,ncv,"
    "netstat,ifstat,mrtg::1,ports,temperature,ntpstat,apache,bind,sendmail,mailq,socks,bea,"
    "iishealth,citrix,bbgen,bbtest,bbproxy,hobbitd,clock,lines,deltalines,ops,stats,cifs,JVM,"
    "JMS,HitCache,Session,JDBCConn,ExecQueue,JTA,TblSpace,RollBack,MemReq,InvObj,snapmirr,"
    "snaplist,snapshot,devmon::1,if_load::1,temp,paging,mdc,mdchitpct,cics,dsa,getvis,maxuser,"
    "nparts,xymongen,xymonnet,xymonproxy,xymond"
)

# xymond's channel buffer sizes in KB; the worker's input buffer fits the largest.
MAXMSG_DEFAULTS = {
    "STATUS": 256,
    "DATA": 256,
    "CLIENT": 512,
    "NOTES": 256,
    "ENADIS": 32,
    "USER": 128,
}


class Applies(Enum):
    """When a new value of a setting takes effect: each field of Settings says which."""

    LIVE = "at a reload"  # SIGHUP, @@reload or a changed file
    RESTART = "at a restart"  # it shaped what was opened or started


LIVE, RESTART = Applies.LIVE, Applies.RESTART


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rrddir: Annotated[Path, RESTART]
    debug: Annotated[bool, LIVE] = False
    cache: Annotated[bool, RESTART] = True  # --no-cache turns the update cache off
    rrd: Annotated[bool, RESTART] = True  # --no-rrd: create files but write no values
    extra_script: Annotated[Path | None, RESTART] = None
    extra_tests: Annotated[tuple[str, ...], RESTART] = ()
    extra_timeout: Annotated[float, RESTART] = Field(30.0, gt=0)  # seconds a script may run
    extra_workers: Annotated[int, RESTART] = Field(4, ge=1)  # scripts running at once
    extra_persistent: Annotated[bool, RESTART] = False
    rrdcached: Annotated[str | None, RESTART] = None  # --rrdcached / RRDCACHED_ADDRESS
    # rrdcached works in rrdd's own RRD directory (None: it does over a Unix socket or
    # loopback), so rrdd's creator processes may make new files for it
    rrdcached_shares_files: Annotated[bool | None, RESTART] = None
    cache_age: Annotated[float, LIVE] = Field(3600.0, gt=0)  # seconds a value may wait
    writes_per_second: Annotated[float, LIVE] = Field(0.0, ge=0)  # 0: no ceiling
    creates_per_second: Annotated[float, LIVE] = Field(0.0, ge=0)
    create_workers: Annotated[int, RESTART] = Field(2, ge=0)  # file-making processes; 0: none
    workers: Annotated[int, RESTART] = Field(1, ge=1, le=64)  # processes sharing the hosts
    processor: Annotated[str | None, RESTART] = None
    processor_bufsize: Annotated[int, RESTART] = Field(8192, ge=1)  # RRD_EXTPROC_BUFSIZ
    processor_flush: Annotated[bool, RESTART] = False  # RRD_EXTPROC_DOFLUSH
    rrddefinitions: Annotated[Path | None, LIVE] = None  # None: Xymon's built-in RRAs
    protocols: Annotated[Path | None, LIVE] = None  # None: xymonnet's stock service list
    snmpmibs: Annotated[Path | None, LIVE] = None  # $XYMONHOME/etc/snmpmibs.cfg, if any
    hostscfg: Annotated[Path | None, LIVE] = None  # HOSTSCFG, for ifstat's INTERFACES: filters
    netsvcs: Annotated[str | None, LIVE] = None  # XYMONNETSVCS
    xymonhome: Annotated[Path | None, LIVE] = None
    tmpdir: Annotated[Path | None, RESTART] = None  # XYMONTMP
    test2rrd: Annotated[str, LIVE] = DEFAULT_TEST2RRD
    pingcolumn: Annotated[str, LIVE] = "conn"
    ncv: Annotated[dict[str, str], LIVE] = {}
    splitncv: Annotated[dict[str, str], LIVE] = {}
    trackmax: Annotated[tuple[str, ...], LIVE] = ()
    rrddisks: Annotated[str | None, LIVE] = None
    norrddisks: Annotated[str | None, LIVE] = None
    # XYMONCHANNEL_LOGFILENAME, reopened on @@logrotate
    logfile: Annotated[Path | None, LIVE] = None
    # severity (error, warning, info, debug) -> where its lines go
    log: Annotated[dict[str, str], LIVE] = {}
    user: Annotated[str | None, RESTART] = None  # drop root to this user after start-up
    group: Annotated[str | None, RESTART] = None
    metrics_listen: Annotated[str | None, RESTART] = None  # HOST:PORT of /metrics
    metrics_retry: Annotated[float, RESTART] = Field(30.0, gt=0)  # seconds between tries
    # /metrics snapshots (sharing.py) and what each rrdd refused, for `rrdd web`
    state_dir: Annotated[Path | None, RESTART] = None
    # values rrdd may hold before it sheds
    max_pending: Annotated[int, LIVE] = Field(2_000_000, ge=1000)
    max_message: Annotated[int, RESTART] = 1024 * max(MAXMSG_DEFAULTS.values()) + 4095
    web_listen: Annotated[str, RESTART] = "127.0.0.1:8468"  # HOST:PORT of `rrdd web`
    graphscfg: Annotated[Path | None, RESTART] = None  # Xymon's graphs.cfg, for `rrdd web`
    graphs: Annotated[str, RESTART] = DEFAULT_GRAPHS  # GRAPHS
    # --- NATS JetStream (rrdd relay, worker, top, check, send, standby; rrdd/nats/) ---
    nats: Annotated[str | None, RESTART] = None  # server URLs, comma-separated
    nats_stream: Annotated[str, RESTART] = "RRDD"
    nats_subject: Annotated[str, RESTART] = "rrdd"  # subjects <this>.part.<p>.<host>
    nats_partitions: Annotated[int, RESTART] = Field(32, ge=1, le=4096)  # P, at creation
    nats_replicas: Annotated[int, RESTART] = Field(1, ge=1, le=5)  # at the stream's creation
    nats_max_bytes: Annotated[int, RESTART] = Field(1 << 30, ge=1 << 20)  # the stream's cap
    nats_duplicate_window: Annotated[float, RESTART] = Field(120.0, gt=0)  # seconds
    nats_ack_wait: Annotated[float, RESTART] = Field(30.0, gt=0)  # seconds, consumers
    nats_batch: Annotated[int, RESTART] = Field(256, ge=1, le=10000)  # messages per fetch
    nats_window: Annotated[int, RESTART] = Field(1024, ge=1)  # publishes awaiting their ack
    nats_spool_dir: Annotated[Path | None, RESTART] = None  # the relay's spool
    nats_spool_max: Annotated[int, RESTART] = Field(1 << 30, ge=1 << 16)  # its bytes at most
    nats_lease_ttl: Annotated[float, RESTART] = Field(15.0, gt=0)  # seconds a lease lasts
    nats_copy: Annotated[bool, RESTART] = False  # the relay also fills <stream>_COPY
    nats_copy_max_age: Annotated[float, RESTART] = Field(86400.0, gt=0)  # seconds kept
    nats_copy_max_bytes: Annotated[int, RESTART] = Field(1 << 30, ge=1 << 20)  # bytes kept
    nats_copy_from: Annotated[str | None, RESTART] = None  # rrdd standby: the main domain
    nats_worker: Annotated[str, RESTART] = "0/1"  # I/N: owns partitions p with p % N == I
    nats_user: Annotated[str | None, RESTART] = None
    nats_password_file: Annotated[Path | None, RESTART] = None  # else $RRDD_NATS_PASSWORD
    nats_token_file: Annotated[Path | None, RESTART] = None  # else $RRDD_NATS_TOKEN
    nats_creds: Annotated[Path | None, RESTART] = None  # a NATS .creds file
    nats_nkey_seed: Annotated[Path | None, RESTART] = None  # a file holding an nkey seed
    nats_tls_ca: Annotated[Path | None, RESTART] = None
    nats_tls_cert: Annotated[Path | None, RESTART] = None  # client certificate (mutual TLS)
    nats_tls_key: Annotated[Path | None, RESTART] = None  # its key, if not in the same file

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

    @field_validator("metrics_listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                split_address(value)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("nats")
    @classmethod
    def _nats(cls, value: str | None) -> str | None:
        for url in (value or "").split(","):
            if "@" in url:
                raise ValueError(
                    "credentials do not go in the URL, where ps and the logs show them: "
                    "use nats_user with nats_password_file or $RRDD_NATS_PASSWORD"
                )
            scheme, sep, rest = url.strip().rpartition("://")
            if (sep and scheme not in ("nats", "tls")) or not rest:
                raise ValueError(f"{url!r} is not nats://HOST:PORT or tls://HOST:PORT")
        return value or None

    @field_validator("nats_worker")
    @classmethod
    def _worker(cls, value: str) -> str:
        i, sep, n = value.partition("/")
        if not (sep and i.isdigit() and n.isdigit() and int(i) < int(n)):
            raise ValueError(f"{value!r} is not I/N with 0 <= I < N (worker I of N)")
        return value

    @field_validator("nats_stream", "nats_subject", "nats_copy_from")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise ValueError(f"{value!r}: only letters, digits, _ and - (one subject token)")
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


# The NATS settings taken from the command line or the file alone (the spool's directory
# has a default of its own); secrets are never settings (rrdd/nats/common.py).
NATS_FIELDS = tuple(
    name for name in Settings.model_fields if name.startswith("nats") and name != "nats_spool_dir"
)


def applies(name: str) -> Applies:
    """When a new value of the setting `name` takes effect."""
    (found,) = [m for m in Settings.model_fields[name].metadata if isinstance(m, Applies)]
    return found


def restart_only(old: Settings, new: Settings) -> list[str]:
    """The settings whose values differ that only a restart puts into effect."""
    return [
        name
        for name in Settings.model_fields
        if applies(name) is RESTART and getattr(old, name) != getattr(new, name)
    ]


def load_settings(
    options: Mapping[str, Any], environ: Mapping[str, str], file: FileSettings | None = None
) -> Settings:
    """Build the Settings from parsed command-line options, the environment and the file.

    `options` holds the command-line values (None when not given); raises ConfigError.
    """
    return resolve_settings(options, environ, file)[0]


def resolve_settings(
    options: Mapping[str, Any], environ: Mapping[str, str], file: FileSettings | None = None
) -> tuple[Settings, dict[str, str]]:
    """The Settings, and where each field's value came from: "command line",
    "environment XYMONRRDS", "FILE:LINE" of the configuration file, or "default".

    The first source that gives a value wins: command line, environment, file, then a
    default derived from the environment (XYMONVAR/rrd, $XYMONHOME/etc/*.cfg), then the
    model's own default.
    """
    fields: dict[str, Any] = {}
    origins: dict[str, str] = {}
    in_file = file.values if file else {}

    def cli(key: str, value: Any = None) -> tuple[str, Any]:
        given = options.get(key)
        return "command line", given if value is None or given is None else value

    def flag(key: str, value: bool) -> tuple[str, Any]:  # store_true: False is "not given"
        return "command line", value if options.get(key) else None

    def env(name: str, value: Any = None) -> tuple[str, Any]:
        given = environ.get(name) or None
        return f"environment {name}", given if value is None or given is None else value

    def cfg(name: str) -> tuple[str, Any]:
        return (file.origins.get(name, "") if file else ""), in_file.get(name)

    def pick(name: str, *sources: tuple[str, Any]) -> Any:
        for origin, value in sources:
            if value is not None:
                fields[name], origins[name] = value, origin
                return value
        origins[name] = "default"
        return None

    def words(value: str | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(w for w in value.split(",") if w)

    rrddir = pick("rrddir", cli("rrddir"), env("XYMONRRDS"), env("BBRRDS"), cfg("rrddir"))
    if rrddir is None:
        var = next((v for v in ("XYMONVAR", "BBVAR") if environ.get(v)), None)
        if not var:
            raise ConfigError(
                "no RRD directory: give --rrddir=DIR, set XYMONRRDS or set rrddir in the "
                "configuration file"
            )
        pick("rrddir", env(var, str(Path(environ[var]) / "rrd")))
    home = pick("xymonhome", env("XYMONHOME"), cfg("xymonhome"))
    derived = f"default, from xymonhome ({origins['xymonhome']})"
    for name, option in (("rrddefinitions", True), ("protocols", False), ("snmpmibs", False)):
        found = Path(home) / f"etc/{name}.cfg" if home else None
        pick(
            name,
            cli(name) if option else ("", None),
            cfg(name),
            (derived, found if found and found.is_file() else None),
        )
    pick("debug", flag("debug", True), cfg("debug"))
    pick("cache", flag("no_cache", False), cfg("cache"))
    pick("rrd", flag("no_rrd", False), cfg("rrd"))
    pick("extra_persistent", flag("extra_persistent", True), cfg("extra_persistent"))
    pick("extra_tests", cli("extra_tests", words(options.get("extra_tests"))), cfg("extra_tests"))
    for name in (
        *("extra_script", "extra_timeout", "extra_workers", "processor", "cache_age"),
        *("writes_per_second", "creates_per_second", "create_workers", "user", "group"),
        *("metrics_listen", "workers"),
    ):
        pick(name, cli(name), cfg(name))
    pick("rrdcached", cli("rrdcached"), env("RRDCACHED_ADDRESS"), cfg("rrdcached"))
    pick("rrdcached_shares_files", cfg("rrdcached_shares_files"))
    pick("processor_bufsize", env("RRD_EXTPROC_BUFSIZ"), cfg("processor_bufsize"))
    doflush = "RRD_EXTPROC_DOFLUSH" in environ or None
    pick("processor_flush", ("environment RRD_EXTPROC_DOFLUSH", doflush), cfg("processor_flush"))
    pick("netsvcs", ("environment XYMONNETSVCS", environ.get("XYMONNETSVCS")), cfg("netsvcs"))
    tmpdir = pick("tmpdir", env("XYMONTMP"), env("BBTMP"), cfg("tmpdir"))
    pick(
        "state_dir",
        cli("state_dir"),  # rrdd web's --state-dir
        cfg("state_dir"),
        (f"default, from tmpdir ({origins['tmpdir']})", Path(tmpdir) / "rrdd" if tmpdir else None),
    )
    pick("metrics_retry", cfg("metrics_retry"))
    hostscfg = environ.get("HOSTSCFG") or environ.get("BBHOSTS")
    pick(
        "hostscfg",
        (
            f"environment {'HOSTSCFG' if environ.get('HOSTSCFG') else 'BBHOSTS'}",
            hostscfg if hostscfg and Path(hostscfg).is_file() else None,
        ),
        cfg("hostscfg"),
    )
    pingcolumn = pick("pingcolumn", env("PINGCOLUMN"), cfg("pingcolumn")) or "conn"
    test2rrd = pick("test2rrd", ("environment TEST2RRD", environ.get("TEST2RRD")), cfg("test2rrd"))
    test2rrd = DEFAULT_TEST2RRD if test2rrd is None else test2rrd
    # xymonlaunch expands $PINGCOLUMN before the worker sees TEST2RRD; do it when run by hand.
    fields["test2rrd"] = test2rrd.replace("${PINGCOLUMN}", pingcolumn).replace(
        "$PINGCOLUMN", pingcolumn
    )
    for name, prefix in (("ncv", "NCV_"), ("splitncv", "SPLITNCV_")):
        _families(name, prefix, environ, cfg(name), fields, origins)
    pick("trackmax", env("TRACKMAX", words(environ.get("TRACKMAX"))), cfg("trackmax"))
    pick("rrddisks", env("RRDDISKS"), cfg("rrddisks"))
    pick("norrddisks", env("NORRDDISKS"), cfg("norrddisks"))
    pick("logfile", env("XYMONCHANNEL_LOGFILENAME"), cfg("logfile"))
    pick("log", cfg("log"))
    pick("max_pending", cfg("max_pending"))
    pick("web_listen", cli("listen"), cfg("web_listen"))
    graphscfg = Path(home) / "etc/graphs.cfg" if home else None
    pick(
        "graphscfg",
        cli("graphscfg"),
        cfg("graphscfg"),
        (derived, graphscfg if graphscfg and graphscfg.is_file() else None),
    )
    pick("graphs", env("GRAPHS"), cfg("graphs"))
    for name in NATS_FIELDS:
        pick(name, cli(name), cfg(name))
    pick(
        "nats_spool_dir",
        cli("nats_spool_dir"),
        cfg("nats_spool_dir"),
        (
            f"default, from state_dir ({origins['state_dir']})",
            Path(fields["state_dir"]) / "nats-spool" if fields.get("state_dir") else None,
        ),
    )
    fields["max_message"] = _max_message(environ)
    maxmsg = sorted(k for k in environ if k.startswith("MAXMSG_"))
    origins["max_message"] = f"environment {', '.join(maxmsg)}" if maxmsg else "default"
    try:
        return Settings(**fields), origins
    except ValidationError as e:
        problems = "; ".join(_problem(err["loc"], err["msg"], origins) for err in e.errors())
        raise ConfigError(problems) from None


def _families(
    name: str,
    prefix: str,
    environ: Mapping[str, str],
    in_file: tuple[str, Any],
    fields: dict[str, Any],
    origins: dict[str, str],
) -> None:
    """NCV_<test> / SPLITNCV_<test> over the file's [ncv] / [splitncv] table, test by test."""
    where, table = in_file
    if table is not None and not isinstance(table, dict):  # for the model to refuse
        fields[name], origins[name] = table, where
        return
    table = table or {}
    from_env = {k[len(prefix) :]: v for k, v in environ.items() if k.startswith(prefix)}
    from_env.pop("", None)
    places = [f"environment {prefix}{test}" for test in sorted(from_env)]
    if set(table) - set(from_env):
        places.append(where)
    fields[name] = {**table, **from_env}
    origins[name] = ", ".join(places) or "default"


def _problem(loc: tuple[int | str, ...], msg: str, origins: Mapping[str, str]) -> str:
    where = origins.get(str(loc[0]), "") if loc else ""
    place = f" ({where})" if where and where != "default" else ""
    return f"{'.'.join(map(str, loc))}{place}: {msg}"


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


def split_address(address: str) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"[IPV6]:PORT"`` -> (host, port), else ConfigError."""
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
        if not sep or not host:
            raise ConfigError(f"bad address {address!r}: expected [IPV6]:PORT")
    else:
        host, sep, port = address.rpartition(":")
        if not sep or not host:
            raise ConfigError(
                f"bad address {address!r}: expected HOST:PORT or [IPV6]:PORT "
                "(0.0.0.0:PORT or [::]:PORT for every interface)"
            )
        if ":" in host:
            raise ConfigError(f"bad address {address!r}: write an IPv6 address as [ADDR]:PORT")
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"bad address {address!r}: the port must be a number from 1 to 65535")
    return host, int(port)
