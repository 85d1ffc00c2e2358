"""The operator CLI: one entry point for people, cron, systemd and Ansible.

    python -m bot [--user NAME] {run,migrate,migrate-to-postgres,backup,restore,verify,drill,
                                 health,sync-commands,export,forget,report,check-resources,
                                 announce} ...

Configuration errors and a schema this release cannot run on (behind: run `migrate`; newer and
incompatible) print one line naming the fix, and exit 78 (EX_CONFIG), which the systemd unit lists
in RestartPreventExitStatus so a bad deploy never restart-loops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import pwd
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from bot import __version__, statefiles
from bot.config import EX_CONFIG, ConfigError, Settings, load_settings
from bot.storage import backends
from bot.storage.backends import DatabaseUnreachable, ensure_schema, open_storage
from bot.storage.backups import KINDS
from bot.storage.base import SchemaError, Storage, StorageUnavailable

log = logging.getLogger("guildbot.cli")
RUN_LOCK = "guildbot.lock"
# `run` gave up on an unreachable database: sysexits' EX_TEMPFAIL, restarted after RestartSec.
EX_TEMPFAIL = 75
# `backup`: the local backup is good and recorded, its off-host push failed (alerted). Not 1, so a
# deploy's pre-deploy backup can go on without the off-host copy (roles/guildbot_rollout).
EX_OFFSITE_FAILED = 3
# When `run` gave up on an unreachable database; each give-up in the last 2 h triples the next
# start's retry window (60 s, 3 min, 9 min, 27 min, then an hour), so the unit's StartLimitBurst
# (5 starts in 30 min) is not reached however long the outage.
DB_GIVE_UPS_FILE = "database-give-ups.json"
DB_GIVE_UP_FACTOR = 3.0


class CommandFailed(Exception):
    """An operator command failed for a reason it can state in one line (exit 1)."""


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def drop_privileges(user: str) -> None:
    """When run as root (cron), continue as the bot's user after secrets have been read."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError("--user", f"there is no user {user!r}", "name the bot's system user") \
            from None
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir


def refuse_root_in_foreign_directories(settings: Settings) -> None:
    """Root without --user must not work in the bot's directories: their owner could plant a
    symlink there (a lock, a status file) and make root write through it."""
    if os.geteuid() != 0:
        return
    own = (settings.database.parent,) if settings.backend == "sqlite" else ()
    for path in (*own, settings.state_dir, settings.backup_dir):
        try:
            owner = path.stat().st_uid
        except FileNotFoundError:
            continue
        if owner != 0:
            raise ConfigError("--user", f"running as root in {path}, which belongs to uid {owner}",
                              "pass --user with the bot's user, e.g. guildbot-cli --user "
                              "guildbot ...")


@contextlib.contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """Held by a running bot, so restore refuses to swap the database under it. It lives in the
    state directory, so on PostgreSQL it guards this host only: restore also refuses while any
    other session of the bot's role is connected to the database."""
    path = settings.state_dir / RUN_LOCK
    with statefiles.exclusive(path) as held:
        if not held:
            raise CommandFailed(f"the bot is running on {settings.database_name} (lock {path} is "
                                "held); stop it first, e.g. systemctl stop guildbot")
        yield


# -- subcommands --------------------------------------------------------------------------------
def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.monitoring.logs import configure_logging

    configure_logging(settings)
    token = settings.require_token()
    with run_lock(settings):
        return asyncio.run(_run_bot(settings, token.reveal()))


async def start_storage(settings: Settings) -> Storage:
    """The schema checked (a new database gets it) and the storage opened. PostgreSQL that does
    not answer is retried for GUILDBOT_DB_START_RETRY_SECONDS, longer after recent give-ups,
    while systemd is told to keep waiting for the start; then DatabaseUnreachable (exit 75)."""
    from bot.monitoring.systemd import Notifier
    from bot.statefiles import GatewayRestarts

    give_ups = GatewayRestarts(settings.state_dir / DB_GIVE_UPS_FILE, "database give-ups file",
                               factor=DB_GIVE_UP_FACTOR)
    window = give_ups.grace(settings.db_start_retry_seconds, time.time())
    notifier = Notifier()
    told: list[bool] = []

    def waiting(left: float, exc: BaseException) -> None:
        if not told:
            told.append(True)
            log.warning("PostgreSQL at %s does not answer (%s: %s); retrying for up to %.0f s",
                        settings.database_name, type(exc).__name__, exc, window)
        notifier.notify(f"EXTEND_TIMEOUT_USEC={int((left + 30) * 1_000_000)}",
                        "STATUS=waiting for the database")

    async def attempt() -> Storage:
        await ensure_schema(settings, migrate=False)
        return await open_storage(settings)

    try:
        return await backends.with_retry(settings, attempt, window=window, on_wait=waiting)
    except DatabaseUnreachable:
        give_ups.record(time.time())
        raise


async def _run_bot(settings: Settings, token: str) -> int:
    import discord

    from bot.app import create_bot
    from bot.monitoring.facade import Monitoring
    from bot.monitoring.hooks import MonitoringHooks

    storage = await start_storage(settings)
    monitoring: MonitoringHooks = Monitoring(settings, sink=storage)
    bot = create_bot(settings, storage, monitoring)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, bot.request_shutdown)
    try:
        async with bot:
            await bot.start(token)
        monitoring.stopped_cleanly()  # drained on request: the next start is not a crash
    except discord.LoginFailure:
        raise ConfigError("GUILDBOT_TOKEN", "Discord rejected the bot token",
                          "put a valid token in the credential file") from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError("intents", "Discord refused a privileged intent",
                          "enable it in the developer portal or drop it") from None
    finally:
        with contextlib.suppress(Exception):
            await monitoring.stop()
        await storage.close()
        log.info("stopped cleanly")
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.sqlite import legacy, schema

    if args.merge and not args.legacy_db:
        raise ConfigError("--merge", "it only applies to a legacy import",
                          "pass --legacy-db and --guild-id with it")
    if args.legacy_db and settings.backend != "sqlite":
        raise ConfigError("--legacy-db", "a legacy import writes into the SQLite database",
                          "import into SQLite first, then run migrate-to-postgres")
    result = asyncio.run(ensure_schema(settings, quiet=True))
    if args.legacy_db:
        if args.guild_id is None:
            raise ConfigError("--guild-id", "a legacy import needs the guild the data belongs to",
                              "pass --guild-id with the server's id")
        conn = schema.connect(settings.database)
        try:
            result["legacy_import"] = legacy.import_legacy(conn, Path(args.legacy_db),
                                                           args.guild_id, merge=args.merge)
        except legacy.LegacyImportError as exc:
            raise CommandFailed(str(exc)) from None
        finally:
            conn.close()
    _print_json(result)
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from bot.monitoring.logs import one_line
    from bot.storage import offsite
    from bot.storage.backups import BackupError, taken_at, write_status

    repo = offsite.repository(settings)
    pushed: dict[str, Any] | None = None
    error: str | None = "the push did not run"

    def push(verified: Path, published: Path) -> None:
        """The off-host copy; its failure (or time limit) leaves the local backup standing."""
        nonlocal pushed, error
        assert repo is not None
        try:
            pushed = offsite.push(repo, verified, args.kind,
                                  taken_at(published) or datetime.now(UTC))
            error = None
        except BackupError as exc:
            error = str(exc)

    try:
        result = backends.backup(settings, kind=args.kind, timeout=args.timeout,
                                 push=push if repo else None)
    except (BackupError, StorageUnavailable, OSError) as exc:
        write_status(settings.state_dir, result=None, error=str(exc))
        _alert(settings, "backup_failed", f"guildbot backup failed: {exc}")
        raise CommandFailed(f"backup failed: {exc}") from None
    write_status(settings.state_dir, result=result, error=None)
    report: dict[str, object] = dict(result.__dict__)
    if repo is None:
        _print_json(report)
        return 0
    offsite.write_status(settings.state_dir, pushed=pushed, error=error)
    report["offsite"] = pushed or {"error": error}
    _print_json(report)
    if error is not None:
        _alert(settings, "offsite_failed", f"guildbot off-host backup push failed (the local "
               f"backup {result.path} is good): {error}")
        print(f"guildbot: off-host push failed: {one_line(error)}", file=sys.stderr)
        return EX_OFFSITE_FAILED
    return 0


def _alert(settings: Settings, key: str, text: str) -> None:
    """A one-off alert from a CLI job (logged, and posted to the webhook when there is one)."""
    from bot.monitoring.alerting import send_one_off

    with contextlib.suppress(Exception):
        send_one_off(settings, key, text)


def cmd_offsite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage import offsite
    from bot.storage.backups import BackupError

    repo = offsite.repository(settings)
    if repo is None:
        raise ConfigError("GUILDBOT_OFFSITE_REPOSITORY", "off-host backups are off",
                          "set it (and the offsite_password credential) to use them")
    try:
        if args.action == "init":
            _print_json({"repository": repo.url, "created": offsite.initialise(repo)})
        elif args.action == "snapshots":
            _print_json(offsite.snapshots(repo))
        elif args.action == "check":
            try:
                _print_json(offsite.check(repo, args.subset or offsite.CHECK_SUBSET))
            except BackupError as exc:
                _alert(settings, "offsite_check_failed",
                       f"guildbot off-host repository check failed: {exc}")
                raise
        else:
            _print_json(_offsite_restore(settings, repo, args.yes))
    except (BackupError, StorageUnavailable, OSError) as exc:
        raise CommandFailed(f"offsite {args.action} failed: {exc}") from None
    return 0


def _offsite_restore(settings: Settings, repo: object, yes: bool) -> dict[str, object]:
    """The newest off-host snapshot of this host, fetched into a scratch directory beside the
    backups and restored through the verified restore path (the bot must be stopped)."""
    from bot.storage import offsite

    assert isinstance(repo, offsite.Repository)
    if not yes:
        raise CommandFailed("offsite restore replaces the live database with the newest "
                            "off-host backup; pass --yes to go ahead")
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(settings), tempfile.TemporaryDirectory(prefix=".offsite-",
                                                         dir=settings.backup_dir) as scratch:
        fetched, snapshot = offsite.fetch_newest(repo, Path(scratch))
        result = backends.restore(settings, fetched)
    taken = datetime.fromisoformat(snapshot["time"].replace("Z", "+00:00"))
    return {**result, "restored": f"{repo.url} snapshot {snapshot['short_id']}",
            "snapshot": snapshot["id"], "snapshot_time": taken.isoformat(),
            "snapshot_age_seconds": round(time.time() - taken.timestamp(), 1)}


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.backups import BackupError

    if not args.yes:
        raise CommandFailed("restore replaces the live database; pass --yes to go ahead "
                            "(the current database is kept: backed up first, or moved aside "
                            "if it fails its integrity check)")
    with run_lock(settings):
        try:
            result = backends.restore(settings, Path(args.backup))
        except (BackupError, StorageUnavailable, OSError) as exc:
            raise CommandFailed(f"restore failed: {exc}") from None
    _print_json(result)
    return 0


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.backups import BackupError

    try:
        result = backends.verify(settings, Path(args.path) if args.path else None)
    except (BackupError, StorageUnavailable) as exc:
        raise CommandFailed(str(exc)) from None
    _print_json(result)
    return 0 if result["ok"] else 1


def cmd_drill(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.backups import BackupError

    try:
        result = backends.drill(settings, Path(args.backup) if args.backup else None)
    except (BackupError, StorageUnavailable) as exc:
        raise CommandFailed(str(exc)) from None
    _print_json(result)
    return 0


def cmd_migrate_to_postgres(settings: Settings, args: argparse.Namespace) -> int:
    from bot.config import postgres_url
    from bot.storage import to_postgres

    source = Path(args.source) if args.source else None
    if source is None and settings.backend == "sqlite":
        source = settings.database
    if source is None:
        raise ConfigError("--from", "GUILDBOT_DATABASE is a PostgreSQL URL, so it names no "
                          "SQLite database to copy", "pass --from with the SQLite file")
    target = args.to or settings.database_url
    if target is None:
        raise ConfigError("--to", "no PostgreSQL database to copy into",
                          "pass --to postgresql://USER@HOST:PORT/DBNAME")
    if not source.is_file():
        raise CommandFailed(f"migrate-to-postgres: the SQLite database {source} does not exist")
    target = postgres_url(target)  # no password in it; that comes from the credential
    password = settings.database_password.reveal() if settings.database_password else None
    # Copying the configured SQLite database: its bot must be stopped (the proof reads it again).
    configured = settings.backend == "sqlite" and source == settings.database
    with run_lock(settings) if configured else contextlib.nullcontext():
        try:
            result = asyncio.run(to_postgres.move(source, target, password,
                                                  settings.backup_dir))
        except (to_postgres.MoveRefused, StorageUnavailable) as exc:
            raise CommandFailed(f"migrate-to-postgres: {exc}") from None
    _print_json(result)
    return 0


def _ask(settings: Settings, path: str, timeout: float, port: int | None = None
         ) -> tuple[str, int, object]:
    """GET ``path`` from the health server on ``port`` (default: this process's): the URL,
    the status and the body (JSON when it is JSON). OSError when nothing answers."""
    from bot.monitoring.resources import health_request

    request = health_request(settings, path, port)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            body, status = response.read().decode(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(), exc.code
    try:
        return request.full_url, status, json.loads(body)
    except ValueError:
        return request.full_url, status, body


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    if args.all:
        return _fleet_health(settings, args.timeout)
    path = "/readyz" if args.ready else "/healthz"
    if args.slo:
        path = "/slo"
    try:
        url, status, body = _ask(settings, path, args.timeout)
    except OSError as exc:
        raise CommandFailed(f"no answer from http://{settings.health_host}:"
                            f"{settings.health_port}{path}: {exc}") from None
    _print_json({"url": url, "status": status, "body": body})
    return 0 if status == 200 else 1


def _fleet_health(settings: Settings, timeout: float) -> int:
    """Every process of this host (GUILDBOT_FLEET_HEALTH_PORTS, else this process's port): its
    shards, readiness with the reasons, heartbeat latency, the last 5 minutes' commands, error
    rate and p95. Exit 1 when any process is not ready or does not answer."""
    processes = []
    for port in settings.fleet_health_ports or (settings.health_port,):
        entry: dict[str, object] = {"port": port}
        try:
            _, status, ready = _ask(settings, "/readyz", timeout, port)
            _, _, slo = _ask(settings, "/slo", timeout, port)
        except OSError as exc:
            entry.update(ready=False, reasons=[f"no answer: {exc}"])
            processes.append(entry)
            continue
        reasons = ready.get("reasons", []) if isinstance(ready, dict) else [str(ready)]
        entry.update(ready=status == 200, reasons=reasons)
        if isinstance(slo, dict):
            process, window = slo.get("process", {}), slo.get("window", {})
            latencies = [s["latency_ms"] for s in process.get("shard_states", [])
                         if s.get("latency_ms") is not None]
            entry.update(
                instance=process.get("instance"), shards=process.get("shards"),
                shard_states=process.get("shard_states"),
                latency_ms=max(latencies) if latencies else None,
                commands_5m=window.get("commands"), error_rate_5m=window.get("error_rate"),
                p95_latency_ms_5m=window.get("p95_latency_ms"),
                uptime_seconds=slo.get("uptime_seconds"))
        processes.append(entry)
    ready_count = sum(1 for p in processes if p["ready"])
    _print_json({"ready": ready_count, "processes_total": len(processes),
                 "processes": processes})
    return 0 if ready_count == len(processes) else 1


def cmd_sync_commands(settings: Settings, args: argparse.Namespace) -> int:
    token = settings.require_token().reveal()

    async def sync() -> bool:
        from dataclasses import replace

        from bot.app import create_bot
        from bot.monitoring.facade import NullMonitoring

        await ensure_schema(settings, quiet=True)
        storage = await open_storage(settings, 1)
        # login() runs setup_hook, which loads the cogs; it must not sync on its own (we decide
        # here) nor start monitoring (a running bot owns the health port).
        quiet = replace(settings, sync_commands=False)
        bot = create_bot(quiet, storage, NullMonitoring(quiet))
        try:
            await bot.login(token)
            return await bot.sync_commands_if_changed(force=args.force)
        finally:
            await bot.close()
            await storage.close()

    changed = asyncio.run(sync())
    _print_json({"synced": changed})
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Stream the guild's export to FILE (written beside it, then renamed: a failed export
    leaves FILE as it was; mode 0600) or to stdout; memory stays bounded whatever the size."""
    async def export(out: BinaryIO) -> dict[str, int]:
        storage = await open_storage(settings, 1)
        try:
            return await storage.guild(args.guild_id).export_to(
                out, datetime.now(UTC).isoformat())
        finally:
            await storage.close()

    asyncio.run(ensure_schema(settings, quiet=True))
    if not args.out:
        asyncio.run(export(sys.stdout.buffer))
        return 0
    target = Path(args.out)
    # A fresh name (O_EXCL, mode 0600) in the target's directory: nothing there can redirect it.
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                   dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            counts = asyncio.run(export(out))
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    print(f"wrote {counts['members']} members and {counts['challenges']} challenges to {target}")
    return 0


def cmd_forget(settings: Settings, args: argparse.Namespace) -> int:
    """A deletion request by mail: delete the user's data in every guild (bot.domain.privacy),
    each deletion recorded in that guild's audit trail as the operator's (the user id and the
    refund count, none of the deleted data). Prints the guilds it deleted from, as JSON."""
    from bot.domain import privacy
    from bot.domain.audit import OPERATOR, AuditEntry

    async def forget() -> dict:
        await ensure_schema(settings, quiet=True)
        storage = await open_storage(settings, 1)
        try:
            guilds: list[str] = []
            refunds = 0
            for guild_id in sorted(await storage.known_guilds()):
                repo = storage.guild(guild_id)
                forgotten = await repo.forget_member(args.user_id)
                if forgotten is None:
                    continue
                await repo.record_audit(AuditEntry(guild_id, OPERATOR, "forget",
                                                   privacy.audit_details(forgotten), time.time()))
                guilds.append(str(guild_id))
                refunds += len(forgotten.refunds)
            return {"user_id": str(args.user_id), "guilds": guilds, "refunds": refunds}
        finally:
            await storage.close()

    _print_json(asyncio.run(forget()))
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from bot.monitoring.report import format_report

    async def summary() -> list:
        await ensure_schema(settings, quiet=True)
        storage = await open_storage(settings, 1)
        try:
            return await storage.usage_summary(time.time() - args.days * 86400)
        finally:
            await storage.close()

    print(format_report(asyncio.run(summary())))
    return 0


def cmd_check_resources(settings: Settings, args: argparse.Namespace) -> int:
    from bot.monitoring import resources

    return resources.main(settings, args)


def cmd_announce(settings: Settings, args: argparse.Namespace) -> int:
    from bot.announce import announce, progress
    from bot.domain.announcements import validate_announcement
    from bot.domain.errors import UserError

    if args.status:
        _print_json(asyncio.run(progress(settings)))
        return 0
    if args.message is None:
        raise CommandFailed("announce: give the MESSAGE (or --status)")
    try:
        message = validate_announcement(args.message)
    except UserError as exc:
        raise CommandFailed(str(exc)) from None
    _print_json(asyncio.run(announce(settings, message, dry_run=args.dry_run)))
    return 0


# -- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"guildbot {__version__}")
    parser.add_argument("--user", help="when run as root, drop to this user after reading "
                        "credentials (cron jobs)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add("run", cmd_run, "run the bot (a database behind this release: migrate first)")
    p = add("migrate", cmd_migrate, "apply schema migrations after a verified backup; idempotent")
    p.add_argument("--legacy-db", metavar="OLD.db", help="import a single-guild legacy database")
    p.add_argument("--guild-id", type=int, help="the guild the legacy data belongs to")
    p.add_argument("--merge", action="store_true",
                   help="import even if the guild has data: add legacy balances, wins, losses "
                   "and check-ins to members already registered; number legacy challenges "
                   "after the guild's own (without it, such a guild is refused)")
    p = add("migrate-to-postgres", cmd_migrate_to_postgres,
            "copy the SQLite database into an empty PostgreSQL database and prove the copy")
    p.add_argument("--from", dest="source", metavar="PATH",
                   help="the SQLite database (default: GUILDBOT_DATABASE when it is a path)")
    p.add_argument("--to", metavar="URL", help="postgresql://USER@HOST:PORT/DBNAME without a "
                   "password (default: GUILDBOT_DATABASE when it is a URL); the password comes "
                   "from $CREDENTIALS_DIRECTORY/database_password or "
                   "GUILDBOT_DATABASE_PASSWORD_FILE")
    p = add("backup", cmd_backup, "take a verified, compressed online backup")
    p.add_argument("--kind", choices=KINDS, default="on-demand",
                   help="scheduled (cron only) feeds the daily/weekly/monthly tiers; the others "
                   "go to a directory of their own (default: on-demand)")
    p.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    p = add("offsite", cmd_offsite, "off-host backups (restic): init the repository, list "
            "this host's snapshots, check it, or restore the newest snapshot")
    p.add_argument("action", choices=("init", "snapshots", "check", "restore"))
    p.add_argument("--subset", help="check: the share of the data to read (restic "
                   "--read-data-subset; default 10%%)")
    p.add_argument("--yes", action="store_true", help="restore: really replace the live "
                   "database (the bot must be stopped; the current one is kept as in restore)")
    p = add("restore", cmd_restore, "restore a backup (the bot must be stopped)")
    p.add_argument("backup", help="path of a backup (.db.zst or .db.gz on SQLite, "
                   ".pgdump on PostgreSQL)")
    p.add_argument("--yes", action="store_true", help="really replace the live database")
    p = add("verify", cmd_verify, "integrity check and row counts of the database or a backup")
    p.add_argument("path", nargs="?", help="a backup (.db.zst, .db.gz, .pgdump) or SQLite file "
                   "(default: the database)")
    p = add("drill", cmd_drill, "restore the newest backup into a scratch dir and verify it")
    p.add_argument("--backup", help="drill this backup instead of the newest")
    p = add("health", cmd_health, "ask the running bot's health endpoint")
    p.add_argument("--ready", action="store_true", help="check readiness (/readyz)")
    p.add_argument("--slo", action="store_true", help="print the SLO figures (/slo)")
    p.add_argument("--all", action="store_true", help="every process of this host "
                   "(GUILDBOT_FLEET_HEALTH_PORTS): shards, readiness, latency, error rate; exit "
                   "1 when any is not ready")
    p.add_argument("--timeout", type=float, default=5)
    p = add("sync-commands", cmd_sync_commands, "sync slash commands if their definition changed")
    p.add_argument("--force", action="store_true", help="sync even if unchanged")
    p = add("export", cmd_export, "export one guild's data as JSON")
    p.add_argument("--guild-id", type=int, required=True)
    p.add_argument("--out", help="write to this file instead of stdout")
    p = add("forget", cmd_forget, "delete one user's data in every guild (a deletion request)")
    p.add_argument("--user-id", type=int, required=True)
    p = add("report", cmd_report, "command usage analytics")
    p.add_argument("--days", type=float, default=7)
    p = add("check-resources", cmd_check_resources, "cron resource checks and alerts")
    p.add_argument("--dry-run", action="store_true", help="evaluate and print, deliver nothing")
    p = add("announce", cmd_announce, "record a message for every guild's announcement "
            "channel; the running bot processes send it, each to its own shards' guilds")
    p.add_argument("message", nargs="?")
    p.add_argument("--dry-run", action="store_true",
                   help="count the guilds with a channel, record nothing")
    p.add_argument("--status", action="store_true",
                   help="each recent announcement's sent, failed, sending and pending guilds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bot.monitoring.logs import RedactingFilter, configure_cli_logging, one_line

    # `run` installs the bot's handler itself; the others log one line each to stderr (cron's log).
    redacting: RedactingFilter | None = configure_cli_logging() if args.command != "run" else None
    try:
        settings = load_settings()
        if redacting is not None:
            redacting.learn(settings.secrets())
        if args.user:
            drop_privileges(args.user)
        elif args.command != "health":  # health only asks the loopback server
            refuse_root_in_foreign_directories(settings)
        return args.handler(settings, args)
    except ConfigError as exc:
        print(f"guildbot: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except SchemaError as exc:
        # Like a configuration error, restarting cannot fix it (the unit does not restart on 78).
        print(f"guildbot: schema error: {one_line(str(exc))}", file=sys.stderr)
        return EX_CONFIG
    except DatabaseUnreachable as exc:
        # Waiting may fix it: the unit restarts on 75 after RestartSec (see DB_GIVE_UPS_FILE).
        print(f"guildbot: {one_line(str(exc))}", file=sys.stderr)
        return EX_TEMPFAIL
    except CommandFailed as exc:
        print(f"guildbot: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
