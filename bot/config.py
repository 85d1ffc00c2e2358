"""Typed settings from the environment; secrets from credential files.

Precedence for a secret NAME: ``$CREDENTIALS_DIRECTORY/<credential>`` (systemd ``LoadCredential=``),
then the file named by ``GUILDBOT_<NAME>_FILE``, then ``GUILDBOT_<NAME>`` (development only).
Anything wrong raises :class:`ConfigError`, which the CLI turns into one line and exit status 78.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.cooldowns import DEFAULT_COOLDOWNS, Rate
from bot.shards import shard_of

EX_CONFIG = 78
PREFIX = "GUILDBOT_"
STAGES = ("local", "beta", "expanded", "public")
DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


class ConfigError(Exception):
    """A setting is missing or invalid. ``str()`` names the setting and the fix."""

    def __init__(self, setting: str, problem: str, fix: str) -> None:
        super().__init__(f"{setting}: {problem}; {fix}")
        self.setting = setting


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class AlertThresholds:
    error_rate: float = 0.01
    latency_seconds: float = 2.0
    cpu_percent: float = 90.0
    memory_percent: float = 80.0
    disk_percent: float = 85.0
    gateway_down_minutes: float = 5.0
    backup_max_age_hours: float = 26.0
    # False where another host runs the backups (one per PostgreSQL deployment): the backup age is
    # then watched there, and this host's check-resources leaves it alone.
    backup_age_watched: bool = True
    # False for every process of a host but one (cron: check-resources@N, N > 0): the host's CPU,
    # memory and disk are then checked once per host, by process 0's check (one page per
    # problem); each process still checks its own unit (service, restarts, its MemoryMax).
    host_resources_watched: bool = True
    webhook_max_per_hour: int = 20
    # True where Prometheus and Alertmanager page for this stage (guildbot_prometheus): the bot's
    # in-process rules and check-resources evaluate nothing, so no alert pages twice.
    by_prometheus: bool = False


@dataclass(frozen=True)
class OffsiteSettings:
    """GUILDBOT_OFFSITE_*: the restic repository every verified backup is pushed to."""

    repository: str
    password: Secret | None       # None in the bot's own process: only the CLI's jobs need it
    host: str
    ssh_key: Secret | None = None
    known_hosts: Path | None = None
    s3_access_key_id: Secret | None = None
    s3_secret_access_key: Secret | None = None

    def secrets(self) -> tuple[Secret | None, ...]:
        return (self.password, self.ssh_key, self.s3_access_key_id, self.s3_secret_access_key)


@dataclass(frozen=True)
class Settings:
    token: Secret | None = None
    alert_webhook_url: Secret | None = None
    database: Path = Path("guildbot.db")
    state_dir: Path = Path(".")
    backup_dir: Path = Path("backups")
    api_base: str = DISCORD_API_BASE
    gateway_url: str = DISCORD_GATEWAY_URL
    stage: str = "local"
    guild_allowlist: frozenset[int] = frozenset()
    max_guilds: int = 0
    closed_to_new_guilds: bool = False
    health_host: str = "127.0.0.1"
    health_port: int = 8710
    # The private /metrics listener for a remote Prometheus (port 0: off), behind a bearer token.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    metrics_token: Secret | None = None
    # The scrapers' addresses (GUILDBOT_METRICS_ALLOW); others get 403 even with the token.
    # Empty: any address (the token still required).
    metrics_allow: frozenset[str] = frozenset()
    log_file: Path | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    data_retention_days: int = 30
    analytics_retention_days: int = 90
    # audit trail entries (bot/domain/audit.py) and operator announcements with their deliveries
    audit_retention_days: int = 365
    # How often the expiry job resolves this process's due challenges (seconds).
    expiry_interval: float = 60.0
    db_readers: int = 2
    # PostgreSQL instead of the SQLite file: a URL without a password (GUILDBOT_DATABASE), the
    # password from a credential (database_password), connections per process.
    database_url: str | None = None
    database_password: Secret | None = None
    db_pool_size: int = 10
    # `run` with PostgreSQL unreachable: retry this long (longer after recent give-ups), then
    # exit 75 for the unit to restart it.
    db_start_retry_seconds: float = 60.0
    max_inflight: int = 200
    shard_count: int = 0
    # The shards this process runs (GUILDBOT_SHARD_IDS); None: all of shard_count.
    shard_ids: tuple[int, ...] | None = None
    # This process's number on its host (GUILDBOT_INSTANCE: guildbot@N), a metrics label.
    instance: int = 0
    # Every process's health port on this host (GUILDBOT_FLEET_HEALTH_PORTS), for health --all;
    # empty: this process's own port only.
    fleet_health_ports: tuple[int, ...] = ()
    sync_commands: bool = True
    # Per-member cooldowns: (command qualified name, rate) pairs, GUILDBOT_COOLDOWNS over the
    # defaults (pairs, not a dict: Settings stays hashable).
    cooldowns: tuple[tuple[str, Rate], ...] = tuple(DEFAULT_COOLDOWNS.items())
    alerts: AlertThresholds = field(default_factory=AlertThresholds)
    # Off-host backups (bot.storage.offsite): None = off.
    offsite: OffsiteSettings | None = None

    def secrets(self) -> list[str]:
        """Every secret value, for the log redaction filter."""
        offsite = self.offsite.secrets() if self.offsite else ()
        return [s.reveal() for s in (self.token, self.alert_webhook_url, self.database_password,
                                     self.metrics_token, *offsite) if s is not None]

    @property
    def backend(self) -> str:
        """``postgres`` when GUILDBOT_DATABASE is a postgresql:// URL, else ``sqlite``."""
        return "postgres" if self.database_url is not None else "sqlite"

    @property
    def database_name(self) -> str:
        """The database for messages and logs: the SQLite path or the password-less URL."""
        return self.database_url if self.database_url is not None else str(self.database)

    @property
    def own_shards(self) -> tuple[int, ...]:
        """The shards this process runs: its shard ids, else every shard (0 unsharded)."""
        if self.shard_ids is not None:
            return self.shard_ids
        return tuple(range(max(self.shard_count, 1)))

    def owns_guild(self, guild_id: int) -> bool:
        """Whether this process runs the guild's shard, so its background work is ours (the
        one place that says which guilds are mine; all of them when it runs every shard)."""
        return self.shard_ids is None or shard_of(guild_id, self.shard_count) in self.shard_ids

    def require_token(self) -> Secret:
        if self.token is None:
            raise ConfigError(
                "GUILDBOT_TOKEN",
                "no Discord bot token was found",
                "put it in $CREDENTIALS_DIRECTORY/discord_token, or name a file in "
                "GUILDBOT_TOKEN_FILE (GUILDBOT_TOKEN is accepted for development)",
            )
        return self.token


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def string(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(PREFIX + name, f"{value!r} is not a whole number",
                              f"set it to a whole number (default {default})") from None
        if number < minimum or (maximum is not None and number > maximum):
            upper = f" and {maximum}" if maximum is not None else " or more"
            raise ConfigError(PREFIX + name, f"{number} is out of range",
                              f"set it between {minimum}{upper}")
        return number

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(PREFIX + name, f"{value!r} is not a number",
                              f"set it to a number (default {default})") from None
        if number < minimum or number != number:
            raise ConfigError(PREFIX + name, f"{number} is out of range",
                              f"set it to {minimum} or more")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(PREFIX + name, f"{value!r} is not a boolean", "set it to true or false")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default).lower()
        if value not in choices:
            raise ConfigError(PREFIX + name, f"{value!r} is not one of {', '.join(choices)}",
                              f"set it to one of {', '.join(choices)}")
        return value

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        value = self.string(name, default)
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in schemes or not rest:
            raise ConfigError(PREFIX + name, f"{value!r} is not a {'/'.join(schemes)} URL",
                              f"set it to a URL such as {default}")
        return value.rstrip("/") if name == "API_BASE" else value

    def id_set(self, name: str) -> frozenset[int]:
        value = self.raw(name)
        if value is None:
            return frozenset()
        ids = set()
        for part in value.replace(" ", ",").split(","):
            if not part:
                continue
            if not part.isdigit() or not 15 <= len(part) <= 21:
                raise ConfigError(PREFIX + name, f"{part!r} is not a Discord guild id",
                                  "give comma-separated numeric guild ids (17-20 digits)")
            ids.add(int(part))
        return frozenset(ids)

    def secret(self, name: str, credential: str) -> Secret | None:
        cred_dir = self.env.get("CREDENTIALS_DIRECTORY")
        if cred_dir and (Path(cred_dir) / credential).is_file():
            path = Path(cred_dir) / credential
            return _read_secret_file(path, f"$CREDENTIALS_DIRECTORY/{credential}")
        file_name = self.raw(name + "_FILE")
        if file_name is not None:
            return _read_secret_file(Path(file_name), PREFIX + name + "_FILE")
        value = self.raw(name)
        return Secret(value) if value is not None else None


def _read_secret_file(path: Path, setting: str) -> Secret:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(setting, f"cannot read {path} ({exc.strerror})",
                          "check the path and that the bot's user may read it") from None
    if not value:
        raise ConfigError(setting, f"{path} is empty", "write the secret into the file")
    return Secret(value)


POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(value: str) -> bool:
    return "://" in value and value.partition("://")[0].lower() in POSTGRES_SCHEMES


def postgres_url(value: str) -> str:
    """A postgresql:// URL as given, once it is known to carry no password. The message of a
    refusal never repeats the URL: it may hold the very secret it refuses."""
    setting = PREFIX + "DATABASE"
    parsed = urllib.parse.urlsplit(value)
    if not parsed.hostname and "host=" not in parsed.query:
        raise ConfigError(setting, "the PostgreSQL URL names no host",
                          "give it as postgresql://USER@HOST:PORT/DBNAME")
    try:
        parsed.port  # noqa: B018 -- validates the port
    except ValueError:
        raise ConfigError(setting, "the PostgreSQL URL has an invalid port",
                          "give it as postgresql://USER@HOST:PORT/DBNAME") from None
    query = urllib.parse.parse_qs(parsed.query)
    if parsed.password is not None or "password" in query:
        raise ConfigError(setting, "the PostgreSQL URL carries a password",
                          "remove it from the URL and put it in $CREDENTIALS_DIRECTORY/"
                          "database_password or the file named by "
                          "GUILDBOT_DATABASE_PASSWORD_FILE")
    if not parsed.path.strip("/"):
        raise ConfigError(setting, "the PostgreSQL URL names no database",
                          "give it as postgresql://USER@HOST:PORT/DBNAME")
    return value


def _database_password(r: _Reader) -> Secret | None:
    """The PostgreSQL password: a credential or a file, never the environment itself."""
    if r.raw("DATABASE_PASSWORD") is not None:
        raise ConfigError(PREFIX + "DATABASE_PASSWORD", "a database password is not read from "
                          "the environment (every child process and /proc would see it)",
                          "unset it; put the password in $CREDENTIALS_DIRECTORY/"
                          "database_password or the file named by "
                          "GUILDBOT_DATABASE_PASSWORD_FILE")
    return r.secret("DATABASE_PASSWORD", "database_password")


OFFSITE_SCHEMES = ("sftp:", "s3:", "local:", "/")


def _offsite(r: _Reader) -> OffsiteSettings | None:
    """GUILDBOT_OFFSITE_REPOSITORY and its credentials (files only, like the database's)."""
    repository = r.raw("OFFSITE_REPOSITORY")
    if repository is None:
        return None
    setting = PREFIX + "OFFSITE_REPOSITORY"
    if not repository.startswith(OFFSITE_SCHEMES):
        raise ConfigError(setting, "the repository is not an sftp:, s3: or local path",
                          "give sftp:USER@HOST:/PATH, s3:https://HOST/BUCKET/PATH or an "
                          "absolute path")
    for name in ("OFFSITE_PASSWORD", "OFFSITE_SSH_KEY", "OFFSITE_S3_ACCESS_KEY_ID",
                 "OFFSITE_S3_SECRET_ACCESS_KEY"):
        if r.raw(name) is not None:
            raise ConfigError(PREFIX + name, "an off-host secret is not read from the "
                              "environment", f"unset it; use {PREFIX}{name}_FILE or the "
                              f"credential {name.lower()}")
    password = r.secret("OFFSITE_PASSWORD", "offsite_password")
    known_hosts = r.raw("OFFSITE_KNOWN_HOSTS")
    return OffsiteSettings(
        repository=repository, password=password,
        host=r.string("OFFSITE_HOST", os.uname().nodename),
        ssh_key=r.secret("OFFSITE_SSH_KEY", "offsite_ssh_key"),
        known_hosts=Path(known_hosts) if known_hosts else None,
        s3_access_key_id=r.secret("OFFSITE_S3_ACCESS_KEY_ID", "offsite_s3_access_key_id"),
        s3_secret_access_key=r.secret("OFFSITE_S3_SECRET_ACCESS_KEY",
                                      "offsite_s3_secret_access_key"))


def _shard_ids(r: _Reader, shard_count: int, backend: str) -> tuple[int, ...] | None:
    """GUILDBOT_SHARD_IDS: ``0-3``, ``4,5`` or a mix, each below GUILDBOT_SHARD_COUNT."""
    value = r.raw("SHARD_IDS")
    if value is None:
        return None
    setting = PREFIX + "SHARD_IDS"
    if backend == "sqlite":
        raise ConfigError(setting, "a process that runs only some shards needs the shared "
                          "PostgreSQL database (SQLite is one process with every shard)",
                          "unset GUILDBOT_SHARD_IDS, or set GUILDBOT_DATABASE to a "
                          "postgresql:// URL")
    if shard_count <= 0:
        raise ConfigError(setting, "shard ids need the total shard count",
                          "set GUILDBOT_SHARD_COUNT too")
    ids: set[int] = set()
    for part in value.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ConfigError(setting, f"{part!r} is not a shard id or range",
                              "give ids and ranges such as 0-3 or 4,5")
        first, last = int(low), int(high) if dash else int(low)
        if first > last or last >= shard_count:
            raise ConfigError(setting, f"{part!r} is outside 0-{shard_count - 1}",
                              f"give ids below GUILDBOT_SHARD_COUNT ({shard_count})")
        ids.update(range(first, last + 1))
    return tuple(sorted(ids))


def _ports(r: _Reader, name: str) -> tuple[int, ...]:
    """A comma-separated list of TCP ports (``8710,8711``)."""
    value = (r.raw(name) or "").replace(" ", "")
    ports = []
    for part in filter(None, value.split(",")):
        if not part.isdigit() or not 0 < int(part) <= 65535:
            raise ConfigError(PREFIX + name, f"{part!r} is not a TCP port",
                              "list the host's health ports, e.g. 8710,8711")
        ports.append(int(part))
    return tuple(ports)


COMMAND_NAME = re.compile(r"[a-z0-9_-]+( [a-z0-9_-]+){0,2}")
COOLDOWN_FIX = ("give comma-separated COMMAND=CALLS/SECONDS entries, e.g. "
                "\"challenge create=3/60,admin export=1/300\"; COMMAND=off (or 0) removes one, "
                "off alone removes them all")


def _cooldowns(r: _Reader) -> tuple[tuple[str, Rate], ...]:
    """GUILDBOT_COOLDOWNS over the defaults: ``challenge create=3/60,login=off``; ``off``
    alone: no cooldown at all."""
    rates = dict(DEFAULT_COOLDOWNS)
    value = r.raw("COOLDOWNS")
    if value is None:
        return tuple(rates.items())
    setting = PREFIX + "COOLDOWNS"
    if value.lower() in ("off", "0"):
        return ()
    for part in value.split(","):
        if not part.strip():
            continue
        name, equals, spec = part.partition("=")
        name, spec = " ".join(name.lower().split()), spec.strip().lower()
        if not equals or not COMMAND_NAME.fullmatch(name):
            raise ConfigError(setting, f"{part.strip()!r} is not COMMAND=CALLS/SECONDS",
                              COOLDOWN_FIX)
        if spec in ("off", "0"):
            rates.pop(name, None)
            continue
        calls, slash, per = spec.partition("/")
        try:
            rate = Rate(int(calls), float(per))
        except ValueError:
            rate = None
        if (not slash or rate is None or not 1 <= rate.calls <= 1000
                or not 0 < rate.per <= 86400):
            raise ConfigError(setting, f"{name}: {spec!r} is not CALLS/SECONDS (1-1000 calls "
                              "per up to 86400 seconds)", COOLDOWN_FIX)
        rates[name] = rate
    return tuple(rates.items())


METRICS_TOKEN_MIN = 16


def _metrics_token(r: _Reader, port: int) -> Secret | None:
    """The bearer token of the private /metrics listener: required (16+ characters) when it is
    on, so /metrics never answers another host without one."""
    token = r.secret("METRICS_TOKEN", "metrics_token")
    if port == 0:
        return token
    if token is None:
        raise ConfigError(PREFIX + "METRICS_PORT", "the private metrics listener is on but has "
                          "no bearer token", "put the token in $CREDENTIALS_DIRECTORY/"
                          "metrics_token or the file named by GUILDBOT_METRICS_TOKEN_FILE, or "
                          "set GUILDBOT_METRICS_PORT=0")
    if len(token.reveal()) < METRICS_TOKEN_MIN:
        raise ConfigError(PREFIX + "METRICS_TOKEN", "the metrics token is too short",
                          f"use a random token of at least {METRICS_TOKEN_MIN} characters")
    return token


def _addresses(r: _Reader, name: str) -> frozenset[str]:
    """A comma-separated list of IP addresses, normalised (``10.0.0.5,fd00::5``)."""
    out = set()
    for part in filter(None, (r.raw(name) or "").replace(" ", ",").split(",")):
        try:
            out.add(str(ipaddress.ip_address(part)))
        except ValueError:
            raise ConfigError(PREFIX + name, f"{part!r} is not an IP address",
                              "list the Prometheus hosts' addresses, e.g. 10.0.0.5") from None
    return frozenset(out)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting; raise ConfigError on the first bad one."""
    r = _Reader(os.environ if env is None else env)
    target = r.string("DATABASE", "guildbot.db")
    database_url = None
    # Read on either backend: migrate-to-postgres copies a SQLite database into PostgreSQL.
    database_password = _database_password(r)
    if is_postgres_url(target):
        database_url = postgres_url(target)
        database = Path("guildbot.db")  # unused: no SQLite file on this backend
        state_dir = Path(r.raw("STATE_DIR") or ".")
    else:
        database = Path(target)
        state_dir = Path(r.raw("STATE_DIR") or database.parent)
    stage = r.choice("STAGE", "local", STAGES)
    allowlist = r.id_set("GUILD_ALLOWLIST")
    if stage in ("beta", "expanded") and not allowlist:
        raise ConfigError(PREFIX + "GUILD_ALLOWLIST", f"stage {stage} admits only listed guilds "
                          "but the list is empty", "list the test guilds' ids, comma-separated")
    log_file = r.raw("LOG_FILE")
    shard_count = r.integer("SHARD_COUNT", 0, maximum=10_000)
    shard_ids = _shard_ids(r, shard_count, "postgres" if database_url else "sqlite")
    max_guilds = r.integer("MAX_GUILDS", 0)
    if max_guilds and shard_ids is not None:
        raise ConfigError(PREFIX + "MAX_GUILDS", "the cap is counted by each process over the "
                          "guilds of its own shards, and this process runs only some shards "
                          "(the deployment would admit up to the cap per process)",
                          "set it to 0 (no cap), or run every shard in one process")
    defaults = AlertThresholds()
    alerts = AlertThresholds(
        error_rate=r.number("ALERT_ERROR_RATE", defaults.error_rate),
        latency_seconds=r.number("ALERT_LATENCY_SECONDS", defaults.latency_seconds),
        cpu_percent=r.number("ALERT_CPU_PCT", defaults.cpu_percent),
        memory_percent=r.number("ALERT_MEMORY_PCT", defaults.memory_percent),
        disk_percent=r.number("ALERT_DISK_PCT", defaults.disk_percent),
        gateway_down_minutes=r.number("ALERT_GATEWAY_DOWN_MINUTES", defaults.gateway_down_minutes),
        backup_max_age_hours=r.number("BACKUP_MAX_AGE_HOURS", defaults.backup_max_age_hours),
        backup_age_watched=r.boolean("ALERT_BACKUP_AGE", defaults.backup_age_watched),
        host_resources_watched=r.boolean("ALERT_HOST_RESOURCES", defaults.host_resources_watched),
        webhook_max_per_hour=r.integer("ALERT_WEBHOOK_MAX_PER_HOUR", defaults.webhook_max_per_hour,
                                       minimum=1, maximum=1000),
        by_prometheus=r.boolean("ALERTS_BY_PROMETHEUS", defaults.by_prometheus),
    )
    metrics_port = r.integer("METRICS_PORT", 0, maximum=65535)
    return Settings(
        token=r.secret("TOKEN", "discord_token"),
        alert_webhook_url=r.secret("ALERT_WEBHOOK_URL", "alert_webhook"),
        database=database,
        state_dir=state_dir,
        backup_dir=Path(r.string("BACKUP_DIR", "backups")),
        api_base=r.url("API_BASE", DISCORD_API_BASE, ("http", "https")),
        gateway_url=r.url("GATEWAY_URL", DISCORD_GATEWAY_URL, ("ws", "wss")),
        stage=stage,
        guild_allowlist=allowlist,
        max_guilds=max_guilds,
        closed_to_new_guilds=r.boolean("CLOSED_TO_NEW_GUILDS", False),
        health_host=r.string("HEALTH_HOST", "127.0.0.1"),
        health_port=r.integer("HEALTH_PORT", 8710, maximum=65535),
        metrics_host=r.string("METRICS_HOST", "127.0.0.1"),
        metrics_port=metrics_port,
        metrics_token=_metrics_token(r, metrics_port),
        metrics_allow=_addresses(r, "METRICS_ALLOW"),
        log_file=Path(log_file) if log_file else None,
        log_format=r.choice("LOG_FORMAT", "text", ("text", "json")),
        log_level=r.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
        data_retention_days=r.integer("DATA_RETENTION_DAYS", 30, maximum=3650),
        analytics_retention_days=r.integer("ANALYTICS_RETENTION_DAYS", 90, minimum=1, maximum=3650),
        audit_retention_days=r.integer("AUDIT_RETENTION_DAYS", 365, minimum=1, maximum=3650),
        expiry_interval=r.number("EXPIRY_INTERVAL_SECONDS", 60.0, minimum=1.0),
        db_readers=r.integer("DB_READERS", 2, minimum=1, maximum=32),
        database_url=database_url,
        database_password=database_password,
        db_pool_size=r.integer("DB_POOL_SIZE", 10, minimum=1, maximum=100),
        db_start_retry_seconds=r.number("DB_START_RETRY_SECONDS", 60.0),
        max_inflight=r.integer("MAX_INFLIGHT", 200, minimum=1, maximum=100_000),
        shard_count=shard_count,
        shard_ids=shard_ids,
        instance=r.integer("INSTANCE", 0, maximum=999),
        fleet_health_ports=_ports(r, "FLEET_HEALTH_PORTS"),
        sync_commands=r.boolean("SYNC_COMMANDS", True),
        cooldowns=_cooldowns(r),
        alerts=alerts,
        offsite=_offsite(r),
    )
