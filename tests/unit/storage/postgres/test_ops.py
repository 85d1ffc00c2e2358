"""The operator verbs on PostgreSQL, through the CLI, on a real server (``postgres_server``):
run's start against a server that is down, migrate, backup (under concurrent writes), verify,
drill, restore, export; and the password's path to pg_dump/pg_restore."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from bot import cli
from bot.storage.backups import BackupResult, list_backups
from bot.storage.postgres import backup as pg_backup
from bot.storage.postgres import schema as pg_schema
from bot.storage.postgres.database import connect
from tests.pgserver import BOT_PASSWORD


@pytest.fixture
def pg_env(tmp_path, monkeypatch, postgres_server):
    """The environment of an operator whose GUILDBOT_DATABASE is a new, empty PostgreSQL
    database; returns its URL."""
    for key in list(os.environ):
        if key.startswith("GUILDBOT_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    name = postgres_server.new_database("ops")
    url = postgres_server.url(name)
    monkeypatch.setenv("GUILDBOT_DATABASE", url)
    monkeypatch.setenv("GUILDBOT_DATABASE_PASSWORD_FILE",
                       str(postgres_server.password_file(tmp_path)))
    monkeypatch.setenv("GUILDBOT_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("GUILDBOT_STATE_DIR", str(tmp_path / "state"))
    yield url
    postgres_server.drop_database(name)


def sql(url: str, *statements: str) -> list:
    """Run statements as the bot's role; the rows of the last."""
    async def go() -> list:
        conn = await connect(url, BOT_PASSWORD)
        try:
            rows: list = []
            for statement in statements:
                rows = await conn.fetch(statement)
            return [tuple(r) for r in rows]
        finally:
            await conn.close()
    return asyncio.run(go())


def seed(url: str, members: int = 30) -> None:
    sql(url,
        "INSERT INTO guilds (guild_id, name, joined_at, last_challenge_number) "
        "VALUES (1, 'one', 0, 2), (2, 'two', 0, 0)",
        f"INSERT INTO members (guild_id, user_id, display_name, registered_at, points) "
        f"SELECT g, u, 'm' || u, 0, 100 FROM generate_series(1, 2) g, "
        f"generate_series(1, {members}) u",
        "INSERT INTO challenges (guild_id, number, challenger_id, opponent_id, stake, status, "
        "created_at, expires_at) VALUES (1, 1, 1, 2, 5, 'open', 0, 9e9), "
        "(1, 2, 3, 4, 7, 'accepted', 0, 9e9)",
        "INSERT INTO command_usage (guild_id, ts, command, outcome, latency_ms) "
        "VALUES (1, 1, 'login', 'success', 3)")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert BOT_PASSWORD not in out + err
    return code, out, err


def migrated(capsys, url: str) -> None:
    code, out, _ = run_cli(capsys, "migrate")
    assert code == 0
    assert json.loads(out)["backup"] is None  # nothing to back up in a new database


def test_run_against_a_stopped_server_exits_75_with_one_line(pg_env, postgres_server,
                                                             monkeypatch, capsys):
    """`run` with PostgreSQL down retries for GUILDBOT_DB_START_RETRY_SECONDS, then prints one
    line naming the server, why and the fix, and exits 75, which the unit restarts (78 it does
    not); the password appears nowhere."""
    monkeypatch.setenv("GUILDBOT_TOKEN", "test-token")
    monkeypatch.setenv("GUILDBOT_DB_START_RETRY_SECONDS", "1.5")
    monkeypatch.setattr("bot.monitoring.logs.configure_logging", lambda settings: None)
    postgres_server.stop()
    try:
        code, out, err = run_cli(capsys, "run")
    finally:
        postgres_server.start()
    assert code == cli.EX_TEMPFAIL == 75
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"guildbot: database unreachable: PostgreSQL at {pg_env} did not "
                          "answer for 1.5 s (")
    assert "start it or fix GUILDBOT_DATABASE" in err
    assert "Traceback" not in err


def test_run_with_a_wrong_password_is_a_configuration_error(pg_env, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.setenv("GUILDBOT_TOKEN", "test-token")
    monkeypatch.setattr("bot.monitoring.logs.configure_logging", lambda settings: None)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    monkeypatch.setenv("GUILDBOT_DATABASE_PASSWORD_FILE", str(wrong))
    code, _, err = run_cli(capsys, "run")
    assert code == 78
    assert err.strip() == (f"guildbot: configuration error: GUILDBOT_DATABASE_PASSWORD_FILE: "
                           f"PostgreSQL at {pg_env} refused the password; put the role's "
                           "password in $CREDENTIALS_DIRECTORY/database_password or the file "
                           "named by GUILDBOT_DATABASE_PASSWORD_FILE")
    assert "not-the-password" not in err


def test_migrate_gives_the_schema_once_and_export_reads_a_guild(pg_env, capsys, tmp_path):
    migrated(capsys, pg_env)
    code, out, _ = run_cli(capsys, "migrate")
    assert (code, json.loads(out)["applied"]) == (0, [])
    seed(pg_env)
    code, out, _ = run_cli(capsys, "export", "--guild-id", "1", "--out",
                           str(tmp_path / "g1.json"))
    assert code == 0 and out.startswith("wrote 30 members and 2 challenges to ")
    document = json.loads((tmp_path / "g1.json").read_text())
    assert (document["guild_id"], len(document["members"])) == ("1", 30)


def test_migrate_takes_a_verified_backup_before_changing_a_schema_with_data(
        pg_env, capsys, monkeypatch):
    """As on SQLite: `migrate` on a PostgreSQL database that has a schema (and so may have
    data) takes a verified `pre-migrate` backup before it applies anything."""
    migrated(capsys, pg_env)
    seed(pg_env)
    pretend = pg_schema.Migration(pg_schema.LATEST_VERSION + 1, "pretend", "SELECT 1")
    applied = []

    async def pending(conn):
        return [] if applied else [pretend]

    async def apply_pending(conn):
        applied.append(pretend)
        return [pretend]

    monkeypatch.setattr(pg_schema, "pending", pending)
    monkeypatch.setattr(pg_schema, "apply_pending", apply_pending)
    code, out, _ = run_cli(capsys, "migrate")
    assert code == 0
    result = json.loads(out)
    assert result["applied"] == [f"{pretend.version:04d}_pretend"]
    safety = Path(result["backup"])
    assert (safety.parent.name, safety.suffix) == ("pre-migrate", ".pgdump")
    check = pg_backup.verify(pg_backup.Server(pg_env, BOT_PASSWORD), safety)
    assert check.ok and check.rows["members"] == 60


def test_backup_verify_and_drill(pg_env, capsys, tmp_path):
    migrated(capsys, pg_env)
    seed(pg_env)
    code, out, _ = run_cli(capsys, "backup", "--kind", "scheduled")
    assert code == 0
    result = json.loads(out)
    path = Path(result["path"])
    assert path.parent == tmp_path / "backups" / "daily" and path.suffix == ".pgdump"
    assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert result["rows"] == {"guilds": 2, "members": 60, "challenges": 2, "command_usage": 1,
                              "meta": 0, "identify_buckets": 0, "audit_log": 0,
                              "announcements": 0, "announcement_deliveries": 0,
                              "schema_migrations": pg_schema.LATEST_VERSION}
    assert {p.parent.name for p in list_backups(tmp_path / "backups",
                                                suffix=pg_backup.SUFFIX)} == \
        {"daily", "weekly", "monthly"}
    assert not list((tmp_path / "backups" / "daily").glob(".*partial"))
    status = json.loads((tmp_path / "state" / "backup-status.json").read_text())
    assert status["path"] == str(path)

    code, out, _ = run_cli(capsys, "verify")
    assert code == 0 and json.loads(out)["rows"] == result["rows"]
    code, out, _ = run_cli(capsys, "verify", str(path))
    assert code == 0 and json.loads(out)["rows"] == result["rows"]
    code, out, _ = run_cli(capsys, "drill")
    drill = json.loads(out)
    assert code == 0 and (drill["backup"], drill["rows"]) == (str(path), result["rows"])
    scratch = sql(pg_env, "SELECT datname FROM pg_database WHERE datname LIKE "
                          f"'{pg_backup.SCRATCH_PREFIX}%'")
    assert scratch == [], "a scratch database was left behind"

    broken = tmp_path / "backups" / "on-demand" / "guildbot-20300101T000000Z.pgdump"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(path.read_bytes()[:2000])
    code, out, _ = run_cli(capsys, "verify", str(broken))
    assert code == 1 and json.loads(out)["integrity"].startswith("unrestorable: pg_restore")
    code, _, err = run_cli(capsys, "drill")
    assert code == 1 and err.startswith(f"guildbot: restore drill failed for {broken}")


def test_a_backup_under_concurrent_writes_counts_exactly_its_snapshot(pg_env, capsys,
                                                                     tmp_path):
    """Rows committed while pg_dump runs are neither in the dump nor in its counts: the
    counts come from the dump's own snapshot, so the restored copy matches them exactly."""
    migrated(capsys, pg_env)
    seed(pg_env, members=4)
    stop, warmed_up = threading.Event(), threading.Event()
    committed: list[int] = []

    async def write() -> None:
        conn = await connect(pg_env, BOT_PASSWORD)
        try:
            while not stop.is_set():
                await conn.execute("INSERT INTO command_usage (guild_id, ts, command, outcome, "
                                   "latency_ms) VALUES (1, 1, 'login', 'success', 1)")
                committed.append(1)
                if len(committed) == 200:
                    warmed_up.set()
        finally:
            await conn.close()

    writer = threading.Thread(target=asyncio.run, args=(write(),))
    writer.start()
    try:
        assert warmed_up.wait(30)
        floor = len(committed)
        settings = cli.load_settings()
        result: BackupResult = pg_backup.create_backup(
            pg_backup.Server(pg_env, BOT_PASSWORD), settings.backup_dir)
        during = len(committed)
    finally:
        stop.set()
        writer.join()
    usage = result.rows["command_usage"]
    assert floor + 1 <= usage <= during + 1  # the seed's row plus the writer's, at the snapshot
    assert len(committed) + 1 > usage, "no write happened while the backup ran"
    check = pg_backup.verify(pg_backup.Server(pg_env, BOT_PASSWORD), Path(result.path))
    assert check.ok and check.rows == result.rows


def test_restore_brings_back_data_deleted_after_the_backup(pg_env, capsys, tmp_path):
    migrated(capsys, pg_env)
    seed(pg_env)
    code, out, _ = run_cli(capsys, "backup")
    assert code == 0
    saved = json.loads(out)["path"]
    sql(pg_env, "DELETE FROM challenges", "DELETE FROM members WHERE guild_id = 2",
        "UPDATE members SET points = 0")
    code, _, err = run_cli(capsys, "restore", saved)
    assert code == 1 and "pass --yes" in err
    code, out, _ = run_cli(capsys, "restore", saved, "--yes")
    assert code == 0
    report = json.loads(out)
    assert report["previous_rows"]["members"] == 30
    assert report["rows"] == {"guilds": 2, "members": 60, "challenges": 2, "command_usage": 1,
                              "meta": 0, "identify_buckets": 0, "audit_log": 0,
                              "announcements": 0, "announcement_deliveries": 0,
                              "schema_migrations": pg_schema.LATEST_VERSION}
    assert sql(pg_env, "SELECT sum(points) FROM members") == [(6000,)]
    assert sql(pg_env, "SELECT count(*) FROM challenges WHERE status = 'accepted'") == [(1,)]
    # What the restore replaced was kept: the pre-restore backup holds the deleted state.
    safety = Path(report["safety_backup"])
    assert safety.parent.name == "pre-restore"
    code, out, _ = run_cli(capsys, "verify", str(safety))
    assert json.loads(out)["rows"]["members"] == 30
    # The restored database is the bot's: the schema is current and new challenges number on.
    code, out, _ = run_cli(capsys, "migrate")
    assert json.loads(out)["applied"] == []
    assert sql(pg_env, "SELECT last_challenge_number FROM guilds WHERE guild_id = 1") == [(2,)]


def test_restore_is_refused_while_the_bot_is_connected(pg_env, capsys):
    from bot.storage.postgres import PostgresStorage

    migrated(capsys, pg_env)
    seed(pg_env)
    code, out, _ = run_cli(capsys, "backup")
    saved = json.loads(out)["path"]
    sql(pg_env, "DELETE FROM challenges")

    async def attempt_while_running() -> tuple[int, str]:
        bot = await PostgresStorage.open(pg_env, BOT_PASSWORD, 2)
        try:
            code = await asyncio.to_thread(cli.main, ["restore", saved, "--yes"])
        finally:
            await bot.close()
        return code, capsys.readouterr().err

    code, err = asyncio.run(attempt_while_running())
    assert code == 1
    assert "other session(s) of the bot's role are connected" in err
    assert "(guildbot)" in err and "stop the bot on every host first" in err
    assert sql(pg_env, "SELECT count(*) FROM challenges") == [(0,)]  # nothing restored
    assert not (Path(saved).parent.parent / "pre-restore").exists()


def test_the_password_reaches_the_tools_only_through_a_private_pgpass_file(
        pg_env, capsys, caplog, monkeypatch):
    """pg_dump and pg_restore get the password from a 0600 PGPASSFILE in a 0700 directory that
    is gone afterwards, never in argv or PGPASSWORD (not even one of the caller's), and nothing
    printed or logged shows it."""
    migrated(capsys, pg_env)
    seed(pg_env)
    monkeypatch.setenv("PGPASSWORD", "callers-own-password")
    seen = []
    real = asyncio.create_subprocess_exec

    def look(program, args, env) -> dict:
        passfile = Path(env["PGPASSFILE"])
        return {"argv": [program, *args], "env": dict(env),
                "file_mode": stat.S_IMODE(passfile.stat().st_mode),
                "dir_mode": stat.S_IMODE(passfile.parent.stat().st_mode),
                "file": passfile, "content": passfile.read_text()}

    async def spy(program, *args, env, **kwargs):
        seen.append(look(program, args, env))
        return await real(program, *args, env=env, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    assert cli.main(["backup"]) == 0
    saved = json.loads(capsys.readouterr().out)["path"]
    assert cli.main(["restore", saved, "--yes"]) == 0
    out, err = capsys.readouterr()
    tools = {Path(call["argv"][0]).name for call in seen}
    assert tools == {"pg_dump", "pg_restore"}
    for call in seen:
        assert not any(BOT_PASSWORD in arg for arg in call["argv"])
        assert "PGPASSWORD" not in call["env"]
        assert not any(BOT_PASSWORD in value for key, value in call["env"].items())
        assert (call["file_mode"], call["dir_mode"]) == (0o600, 0o700)
        assert call["content"].strip().endswith(BOT_PASSWORD)
        assert not call["file"].exists()
    assert BOT_PASSWORD not in out + err + caplog.text


def test_a_role_without_createdb_is_told_what_to_grant(pg_env, capsys, postgres_server):
    migrated(capsys, pg_env)
    postgres_server.psql("ALTER ROLE guildbot NOCREATEDB")
    try:
        code, _, err = run_cli(capsys, "backup")
    finally:
        postgres_server.psql("ALTER ROLE guildbot CREATEDB")
    assert code == 1
    assert "ALTER ROLE <role> CREATEDB" in err
    assert not list_backups(Path(os.environ["GUILDBOT_BACKUP_DIR"]), suffix=pg_backup.SUFFIX)


def test_a_backup_that_hangs_times_out_and_leaves_nothing_behind(pg_env, capsys, tmp_path,
                                                                 monkeypatch):
    migrated(capsys, pg_env)
    seed(pg_env)

    async def hang(server, tool, *args):
        await asyncio.sleep(30)

    monkeypatch.setattr(pg_backup, "_run", hang)
    code, _, err = run_cli(capsys, "backup", "--timeout", "0.5")
    assert code == 1
    # The alert's log line comes first (cron's log keeps both), then the CLI's one-line verdict.
    assert err.strip().splitlines()[-1] == "guildbot: backup failed: timed out after 0.5 s"
    assert not [p for p in (tmp_path / "backups").rglob("*") if p.is_file()
                and p.name != ".backup.lock"]
    status = json.loads((tmp_path / "state" / "backup-status.json").read_text())
    assert status["last_error"] == "timed out after 0.5 s"


@pytest.mark.skipif(__import__("shutil").which("restic") is None, reason="restic not installed")
def test_offsite_push_and_restore_on_postgres(pg_env, tmp_path, monkeypatch, capsys):
    """Regression (issue 16, item 1): on PostgreSQL the verified .pgdump is pushed off-host as
    guildbot.pgdump (tag backend=postgres), and `offsite restore --yes` brings it back through
    the verified restore path: a change made after the push is undone. Fails on the old code
    because there was no push and no `offsite` command."""
    from bot.config import load_settings
    from bot.storage import offsite

    (tmp_path / "offsite_password").write_text("pg-offsite\n")
    monkeypatch.setenv("GUILDBOT_OFFSITE_REPOSITORY", str(tmp_path / "repo"))
    monkeypatch.setenv("GUILDBOT_OFFSITE_PASSWORD_FILE", str(tmp_path / "offsite_password"))
    monkeypatch.setenv("GUILDBOT_OFFSITE_HOST", "pg-host")
    migrated(capsys, pg_env)
    seed(pg_env)
    assert run_cli(capsys, "offsite", "init")[0] == 0
    code, out, _ = run_cli(capsys, "backup")
    assert code == 0, out
    assert json.loads(out)["offsite"]["snapshot"]
    repo = offsite.repository(load_settings())
    assert repo is not None
    [snap] = offsite.snapshots(repo)
    assert snap["paths"] == ["/guildbot.pgdump"] and "backend=postgres" in snap["tags"]
    sql(pg_env, "DELETE FROM members WHERE guild_id = 2")
    code, out, _ = run_cli(capsys, "offsite", "restore", "--yes")
    assert code == 0, out
    assert sql(pg_env, "SELECT COUNT(*) FROM members") == [(60,)]
