"""The operator CLI in-process: migrate (backup first, idempotent, legacy import), help."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from bot import cli
from bot.storage import backup, schema
from tests.fixtures.legacy import make_legacy_db

SUBCOMMANDS = ["run", "migrate", "backup", "restore", "verify", "drill", "health",
               "sync-commands", "export", "report", "check-resources", "announce"]


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
    schema.apply_pending(conn, upto=1)
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
    assert cli.main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert "newer than this release knows" in err
    assert "Traceback" not in err
