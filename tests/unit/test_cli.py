"""The operator CLI in-process: migrate (backup first, idempotent, legacy import), help."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3

import pytest

from bot import cli
from bot.storage.sqlite import backup, schema
from tests.fixtures.legacy import make_legacy_db

SUBCOMMANDS = ["run", "migrate", "migrate-to-postgres", "backup", "restore", "verify", "drill",
               "health", "sync-commands", "export", "report", "check-resources", "announce",
               "offsite"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("GUILDBOT_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("GUILDBOT_DATABASE", str(tmp_path / "g.db"))
    monkeypatch.setenv("GUILDBOT_BACKUP_DIR", str(tmp_path / "backups"))
    return tmp_path


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert "usage: python -m bot" in capsys.readouterr().out


def test_migrate_creates_then_backs_up_before_upgrading_and_is_idempotent(env, capsys):
    db = env / "g.db"
    conn = schema.connect(db)
    schema.apply(conn, schema.migrations()[0])
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (5, 'g', 0)")
    conn.close()
    assert cli.main(["migrate"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["from_version"], first["to_version"]) == (1, schema.LATEST_VERSION)
    safety = backup.verify(backup.Path(first["backup"]))
    assert safety.ok
    assert safety.schema_version == 1
    assert safety.rows["guilds"] == 1
    assert cli.main(["migrate"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["applied"] == []
    assert second["backup"] is None


def test_migrate_imports_a_legacy_database(env, capsys):
    legacy = make_legacy_db(env / "old.db")
    assert cli.main(["migrate", "--legacy-db", str(legacy), "--guild-id",
                     "123456789012345678"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["legacy_import"]["users"] == 19
    count = sqlite3.connect(env / "g.db").execute("SELECT COUNT(*) FROM members").fetchone()
    assert count == (19,)


def test_migrate_legacy_needs_a_guild(env, capsys):
    assert cli.main(["migrate", "--legacy-db", str(env / "old.db")]) == 78
    assert "--guild-id" in capsys.readouterr().err
    assert cli.main(["migrate", "--merge"]) == 78
    assert "--merge: it only applies to a legacy import" in capsys.readouterr().err


def test_failures_are_one_line_with_exit_1(env, capsys):
    assert cli.main(["verify", str(env / "missing.db.gz")]) == 1
    assert capsys.readouterr().err.strip() == \
        f"guildbot: {env / 'missing.db.gz'} does not exist"
    assert cli.main(["restore", str(env / "x.db.gz")]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert cli.main(["drill"]) == 1
    assert "no backups found" in capsys.readouterr().err
    assert cli.main(["announce", "   "]) == 1
    assert "empty" in capsys.readouterr().err


def test_a_hostile_backup_name_cannot_forge_a_line_of_the_cron_log(env, capsys):
    """Regression (issue 13, item 3): the bot's user names the files in the backup directory, and
    the drill's error (which cron appends to its log) printed the name verbatim; fails on the old
    code because a newline in the name started a line of its own."""
    daily = env / "backups" / "daily"
    daily.mkdir(parents=True)
    (daily / "guildbot-99991231T235959Z\nINJECTED line.db.gz").write_bytes(b"not gzip")
    assert cli.main(["drill"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("guildbot: ")
    assert "guildbot-99991231T235959Z\\nINJECTED line.db.gz" in err


def test_root_without_user_refuses_the_bots_directories(env, capsys, monkeypatch):
    """Regression (issue 13, item 3): root running the CLI without --user (an operator's slip)
    wrote the backup lock and backup-status.json in directories the bot's user owns, following any
    symlink planted there; fails on the old code because the backup ran (exit 0)."""
    assert cli.main(["migrate"]) == 0  # a database to back up
    capsys.readouterr()
    if os.geteuid() == 0:
        os.chown(env, 65534, 65534)  # the bot's user's directory
    else:
        monkeypatch.setattr(os, "geteuid", lambda: 0)  # root, in the test user's directory
    assert cli.main(["backup"]) == 78
    err = capsys.readouterr().err
    assert f"--user: running as root in {env}, which belongs to uid" in err
    assert "pass --user" in err
    assert not (env / "backups").exists()
    assert not (env / "backup-status.json").exists()


def test_a_database_from_a_newer_release_is_refused_in_one_line(env, capsys):
    conn = schema.connect(env / "g.db")
    schema.apply_pending(conn)
    conn.execute(f"PRAGMA user_version = {schema.LATEST_VERSION + 1}")
    conn.close()
    assert cli.main(["migrate"]) == 78
    err = capsys.readouterr().err
    assert "newer than this release knows" in err
    assert "Traceback" not in err


def test_legacy_import_into_a_guild_with_data_is_one_line_unless_merged(env, capsys):
    """Regression (issue 13, item 11): `migrate --legacy-db` into a guild that has data exits 1
    with one line naming --merge, no traceback; `--merge` then imports. Fails on the old code
    because sqlite3.IntegrityError (challenge #1 exists) escaped as a traceback and there was
    no --merge option."""
    legacy = make_legacy_db(env / "old.db")
    assert cli.main(["migrate"]) == 0
    conn = schema.connect(env / "g.db")
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (7, 'g', 0)")
    conn.execute("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                 "VALUES (7, 1, 'ann', 0), (7, 2, 'bob', 0)")
    conn.execute("INSERT INTO challenges (guild_id, number, challenger_id, opponent_id, stake, "
                 "status, created_at, expires_at) VALUES (7, 1, 1, 2, 5, 'open', 0, 1)")
    conn.close()
    capsys.readouterr()
    assert cli.main(["migrate", "--legacy-db", str(legacy), "--guild-id", "7"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("guildbot: guild 7 already has data") and "--merge" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert cli.main(["migrate", "--legacy-db", str(legacy), "--guild-id", "7", "--merge"]) == 0
    assert json.loads(capsys.readouterr().out)["legacy_import"]["challenges"] == 2
    count = sqlite3.connect(env / "g.db").execute("SELECT COUNT(*) FROM members").fetchone()
    assert count == (21,)


def test_backup_kind_decides_the_directory_and_only_scheduled_feeds_the_tiers(env, capsys):
    """Regression (issue 13, item 6): fails on the old code because `backup` had no --kind
    and every backup (a deploy's, an operator's) went into the daily/weekly/monthly tiers."""
    schema.connect(env / "g.db").close()
    for argv, tier in ([["backup"], "on-demand"], [["backup", "--kind", "pre-deploy"],
                                                   "pre-deploy"],
                       [["backup", "--kind", "scheduled"], "daily"]):
        assert cli.main(argv) == 0
        result = json.loads(capsys.readouterr().out)
        assert backup.Path(result["path"]).parent == env / "backups" / tier
        status = json.loads((env / backup.STATUS_FILE).read_text())
        assert (status["kind"], status["path"]) == (result["kind"], result["path"])
    assert {p.parent.name for p in backup.list_backups(env / "backups")} == \
        {"on-demand", "pre-deploy", *backup.TIERS}


def test_restore_of_a_corrupt_database_reports_where_the_damaged_files_went(env, capsys):
    """Regression (issue 13, item 4): fails on the old code because restore refused ("the backup
    copy failed its integrity check") when the live database was corrupt."""
    db = env / "g.db"
    conn = schema.connect(db)
    schema.apply_pending(conn)
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (1, 'g', 0)")
    conn.executemany("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                     "VALUES (1, ?, 'm', 0)", [(i,) for i in range(3000)])
    conn.close()
    assert cli.main(["backup"]) == 0
    saved = json.loads(capsys.readouterr().out)["path"]
    with open(db, "r+b") as handle:
        handle.seek(4096 * 10)
        handle.write(b"\xa5" * 4096 * 3)
    assert cli.main(["verify"]) == 1
    capsys.readouterr()
    assert cli.main(["restore", saved, "--yes"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["previous_integrity"] != "ok"
    assert (backup.Path(report["damaged_moved_to"]) / "g.db").exists()
    assert report["rows"]["members"] == 3000
    assert cli.main(["verify"]) == 0


def test_run_refuses_a_database_behind_the_release_with_exit_78(env, monkeypatch, capsys):
    """Regression (issue 13, item 7): `run` on a database behind the release's schema exits 78
    with one line naming `guildbot-cli migrate`, and neither migrates nor writes a backup.

    Fails on the old code because `run` migrated itself, taking its pre-migrate backup first: under
    the unit the backup directory is read-only (here: a file where the directory should be), so it
    crashed with a traceback (exit 1), and systemd restarted it until the start limit.
    """
    monkeypatch.setenv("GUILDBOT_TOKEN", "test-token")
    (env / "backups").write_text("not a directory")
    monkeypatch.setattr("bot.monitoring.logs.configure_logging", lambda settings: None)
    conn = schema.connect(env / "g.db")
    schema.apply(conn, schema.migrations()[0])
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (5, 'g', 0)")
    conn.close()
    assert cli.main(["run"]) == 78
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("guildbot: schema error: ")
    assert "run `guildbot-cli migrate`" in err
    assert schema.current_version(schema.connect(env / "g.db")) == 1
    assert (env / "backups").read_text() == "not a directory"


async def test_run_gives_a_new_database_its_schema(env):
    """Only a database with data is refused: a new one has nothing to back up."""
    settings = cli.load_settings()
    result = await cli.ensure_schema(settings, migrate=False)
    assert (result["from_version"], result["to_version"]) == (0, schema.LATEST_VERSION)
    assert result["backup"] is None


async def test_each_recent_give_up_on_the_database_lengthens_the_next_start_s_wait(env,
                                                                                  monkeypatch):
    """`run` that gave up on an unreachable PostgreSQL records it in the state directory, and the
    next start waits three times as long, so a long outage restarts the unit at widening
    intervals instead of reaching its StartLimitBurst (5 starts in 30 min)."""
    monkeypatch.setenv("GUILDBOT_DATABASE", "postgresql://guildbot@127.0.0.1:9/guildbot")
    monkeypatch.setenv("GUILDBOT_STATE_DIR", str(env))
    monkeypatch.setenv("GUILDBOT_DB_START_RETRY_SECONDS", "0.01")
    settings = cli.load_settings()

    async def refused(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(cli, "ensure_schema", refused)
    waits = []
    for _ in range(3):
        with pytest.raises(cli.DatabaseUnreachable) as caught:
            await cli.start_storage(settings)
        waits.append(str(caught.value).split("did not answer for ")[1].split(" s ")[0])
    assert waits == ["0.01", "0.03", "0.09"]
    assert len(json.loads((env / cli.DB_GIVE_UPS_FILE).read_text())["gave_up"]) == 3


async def test_while_it_waits_for_the_database_systemd_is_told_to_keep_waiting(env,
                                                                               monkeypatch):
    """A wait longer than the unit's TimeoutStartSec (120 s; later waits are minutes) would have
    systemd kill the start: each retry extends the start timeout past the next attempt."""
    import socket

    monkeypatch.setenv("GUILDBOT_DATABASE", "postgresql://guildbot@127.0.0.1:9/guildbot")
    monkeypatch.setenv("GUILDBOT_STATE_DIR", str(env))
    monkeypatch.setenv("GUILDBOT_DB_START_RETRY_SECONDS", "1.5")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(env / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(env / "notify"))

    async def refused(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(cli, "ensure_schema", refused)
    with pytest.raises(cli.DatabaseUnreachable):
        await cli.start_storage(cli.load_settings())
    listener.setblocking(False)
    messages = []
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(listener.recv(4096).decode())
    listener.close()
    assert messages  # one before each retry
    for message in messages:
        extend, status = message.split("\n")
        assert extend.startswith("EXTEND_TIMEOUT_USEC=")
        assert int(extend.split("=")[1]) >= 30_000_000
        assert status == "STATUS=waiting for the database"


def test_the_clis_own_log_lines_are_redacted(env, capsys, monkeypatch):
    """Regression: every subcommand but ``run`` logged through a bare stderr handler without the
    RedactingFilter, so a secret in a CLI log line reached cron's log as it was. Fails on the old
    code because the webhook URL's token is printed in clear (and, under pytest, because the old
    ``logging.basicConfig`` installed nothing at all when the root logger had a handler)."""
    secret = "https://discord.com/api/webhooks/123/s3cr3t-webhook-token"
    monkeypatch.setenv("GUILDBOT_ALERT_WEBHOOK_URL", secret)

    def report(settings, args):
        logging.getLogger("guildbot.cli").warning("posting to %s failed", secret)
        return 0

    monkeypatch.setattr(cli, "cmd_report", report)
    assert cli.main(["report"]) == 0
    err = capsys.readouterr().err
    assert "WARNING guildbot.cli: posting to" in err
    assert "s3cr3t-webhook-token" not in err
