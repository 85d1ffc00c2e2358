"""`python -m bot migrate-to-postgres`: a seeded SQLite deployment (22 guilds whose members
share user ids, challenges in every status and phase, usage rows, legacy-import bookkeeping)
copied into PostgreSQL, proven guild by guild, refused into a non-empty target, a no-op when
run again; and the copy keeps numbering challenges after the copied ones."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3

import pytest

from bot import cli
from bot.storage import to_postgres
from bot.storage.postgres import PostgresStorage
from bot.storage.sqlite import SQLiteStorage, backup, schema
from tests.fixtures.pytest_plugin import export_of
from tests.pgserver import BOT_PASSWORD
from tests.unit.storage.postgres.test_ops import sql

GUILDS = [10**17 + g * 7919 for g in range(22)]
USERS = [10**17 + 5 + u for u in range(12)]  # the same people in every guild
STATUSES = ("open", "accepted", "declined", "completed", "cancelled", "expired")


def seed_sqlite(path) -> None:
    conn = schema.connect(path)
    schema.apply_pending(conn)
    with conn:
        conn.execute("BEGIN")
        for i, guild in enumerate(GUILDS):
            conn.execute(
                "INSERT INTO guilds (guild_id, name, joined_at, left_at, maintenance, "
                "daily_reward, challenge_expiry_hours, day_boundary, announcement_channel_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (guild, f"guild {i} \N{PARTY POPPER}", 1.7e9 + i / 3, 1.8e9 if i % 5 == 0 else None,
                 i % 4 == 0, 100 + i, 24 + i % 3, "Europe/Paris" if i % 2 else "UTC",
                 guild + 1 if i % 3 else None))
            for j, user in enumerate(USERS):
                conn.execute(
                    "INSERT INTO members (guild_id, user_id, display_name, registered_at, "
                    "points, streak, best_streak, last_login_day, total_logins, wins, losses) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (guild, user, f"m{j} 'q\" é", 1.7e9 + j * 0.125, 1000 + i * j, j % 4, j,
                     "2024-02-0" + str(1 + j % 9) if j % 2 else None, j * 3, j % 5, j % 7))
            for n in range(1, 8 + i % 5):  # 7 to 11 challenges, every status and phase
                status = STATUSES[n % len(STATUSES)]
                a, b = USERS[n % len(USERS)], USERS[(n + 1 + i) % len(USERS)]
                if a == b:
                    b = USERS[(n + 2) % len(USERS)]
                played = status in ("accepted", "completed")
                conn.execute(
                    "INSERT INTO challenges (guild_id, number, challenger_id, opponent_id, "
                    "stake, status, created_at, expires_at, resolved_at, winner_id, "
                    "accepted_at, claimant_id, claimed_at, disputed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (guild, n, a, b, 5 * n, status, 1.7e9 + n, 1.7e9 + n + 86400.5,
                     None if status in ("open", "accepted") else 1.7e9 + n + 60,
                     a if status == "completed" else None,
                     1.7e9 + n + 30 if played else None,
                     b if status == "accepted" and n % 2 else None,
                     1.7e9 + n + 40 if status == "accepted" and n % 2 else None,
                     1.7e9 + n + 50 if status == "accepted" and n % 4 == 1 else None))
        conn.executemany(
            "INSERT INTO command_usage (guild_id, ts, command, outcome, latency_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            [(GUILDS[k % len(GUILDS)] if k % 9 else 0, 1.7e9 + k, "login",
              ("success", "user_error", "failure")[k % 3], k / 7) for k in range(500)])
        conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')",
                     (f"legacy_import:{GUILDS[3]}",))
    conn.close()


@pytest.fixture
def move_env(tmp_path, monkeypatch, postgres_server):
    """An operator's SQLite deployment (GUILDBOT_DATABASE a path, seeded) with the PostgreSQL
    password configured; returns the new, empty target database's URL."""
    for key in list(os.environ):
        if key.startswith("GUILDBOT_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    seed_sqlite(tmp_path / "g.db")
    monkeypatch.setenv("GUILDBOT_DATABASE", str(tmp_path / "g.db"))
    monkeypatch.setenv("GUILDBOT_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("GUILDBOT_DATABASE_PASSWORD_FILE",
                       str(postgres_server.password_file(tmp_path)))
    name = postgres_server.new_database("move")
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def move(capsys, url: str, *extra: str) -> tuple[int, str, str]:
    code = cli.main(["migrate-to-postgres", "--to", url, *extra])
    out, err = capsys.readouterr()
    assert BOT_PASSWORD not in out + err
    return code, out, err


async def exports(db_path, url) -> tuple[dict, dict]:
    sqlite = await SQLiteStorage.open(db_path, 1)
    postgres = await PostgresStorage.open(url, BOT_PASSWORD, 2)
    try:
        return ({g: await export_of(sqlite.guild(g)) for g in GUILDS},
                {g: await export_of(postgres.guild(g)) for g in GUILDS})
    finally:
        await sqlite.close()
        await postgres.close()


def test_the_move_copies_every_table_proves_it_and_prints_the_counts(move_env, capsys,
                                                                      tmp_path):
    code, out, err = move(capsys, move_env)
    assert (code, err) == (0, "")
    result = json.loads(out)
    expected = {"guilds": 22, "members": 22 * 12, "challenges": sum(7 + i % 5 for i in
                                                                     range(22)),
                "command_usage": 500, "audit_log": 0, "meta": 1}
    assert result["rows"] == expected
    assert result["guilds_proven"] == 22
    assert result["already_done"] is False
    # The verified SQLite backup came first.
    safety = backup.verify(backup.Path(result["backup"]))
    assert safety.ok and safety.rows["members"] == 22 * 12
    assert backup.Path(result["backup"]).parent.name == "pre-migrate"
    # The test's own look at the copy, not only the command's proof.
    from_sqlite, from_postgres = asyncio.run(exports(tmp_path / "g.db", move_env))
    assert from_sqlite == from_postgres
    assert {c["status"] for d in from_postgres.values() for c in d["challenges"]} == \
        set(STATUSES)
    src = sqlite3.connect(tmp_path / "g.db")
    usage = src.execute("SELECT id, guild_id, ts, command, outcome, latency_ms FROM "
                        "command_usage ORDER BY id").fetchall()
    assert sql(move_env, "SELECT id, guild_id, ts, command, outcome, latency_ms FROM "
                         "command_usage ORDER BY id") == usage
    assert sql(move_env, "SELECT key FROM meta ORDER BY key") == \
        [(f"legacy_import:{GUILDS[3]}",), (to_postgres.DONE_KEY,)]
    assert sql(move_env, "SELECT count(*) FROM guilds WHERE maintenance") == [(6,)]


def test_run_again_after_success_it_does_nothing_and_says_so(move_env, capsys, tmp_path):
    assert move(capsys, move_env)[0] == 0
    backups_before = sorted((tmp_path / "backups").rglob("*.db.zst"))
    code, out, _ = move(capsys, move_env)
    assert code == 0
    result = json.loads(out)
    assert result["already_done"] is True
    assert result["message"].endswith("; nothing to do")
    assert str(tmp_path / "g.db") in result["message"]
    assert sorted((tmp_path / "backups").rglob("*.db.zst")) == backups_before
    assert sql(move_env, "SELECT count(*) FROM members") == [(22 * 12,)]


def test_a_new_challenge_after_the_move_gets_the_next_number(move_env, capsys):
    assert move(capsys, move_env)[0] == 0
    guild = GUILDS[4]  # 7 + 4 % 5 = 11 challenges copied

    async def create():
        storage = await PostgresStorage.open(move_env, BOT_PASSWORD, 2)
        try:
            return await storage.guild(guild).create_challenge(USERS[0], USERS[1], 10,
                                                               1.9e9, 1.9e9 + 3600)
        finally:
            await storage.close()

    assert asyncio.run(create()).challenge_id == 12


def test_a_target_with_data_is_refused_and_left_as_it_was(move_env, capsys, tmp_path):
    assert cli.main(["migrate"]) == 0  # nothing wrong with the source
    capsys.readouterr()

    async def prepare():
        from bot.storage.postgres import schema as pg_schema
        from bot.storage.postgres.database import connect

        conn = await connect(move_env, BOT_PASSWORD)
        try:
            await pg_schema.apply_pending(conn)
            await conn.execute("INSERT INTO guilds (guild_id, name, joined_at) "
                               "VALUES (1, 'already here', 0)")
        finally:
            await conn.close()

    asyncio.run(prepare())
    code, out, err = move(capsys, move_env)
    assert (code, out) == (1, "")
    assert err.startswith("guildbot: migrate-to-postgres: the target database is not empty "
                          "(1 guilds): ")
    assert err.count("\n") == 1
    assert sql(move_env, "SELECT guild_id, name FROM guilds") == [(1, "already here")]
    assert not list((tmp_path / "backups").rglob("*.db.zst")), "a refused move took a backup"

    sql(move_env, "DROP TABLE challenges, members, guilds, command_usage, meta, audit_log, "
                  "identify_buckets, announcement_deliveries, announcements, schema_migrations",
        "CREATE TABLE other_app (x int)")
    code, _, err = move(capsys, move_env)
    assert code == 1 and "not empty (1 tables, schema version 0)" in err


def test_a_copy_that_does_not_prove_itself_leaves_the_target_empty(move_env, capsys,
                                                                   monkeypatch):
    """The proof compares what was copied, not only how much: one changed name fails it."""
    real = to_postgres._sqlite_rows

    def tampered(conn, table, columns, booleans):
        for row in real(conn, table, columns, booleans):
            if table == "members" and row[0] == GUILDS[7] and row[1] == USERS[2]:
                row = (*row[:2], "someone else", *row[3:])
            yield row

    monkeypatch.setattr(to_postgres, "_sqlite_rows", tampered)
    code, _, err = move(capsys, move_env)
    assert code == 1
    assert err.strip() == (f"guildbot: migrate-to-postgres: guild {GUILDS[7]}'s export differs "
                           "between the SQLite database and the copy")
    assert sql(move_env, "SELECT (SELECT count(*) FROM guilds) + (SELECT count(*) FROM "
                         "members) + (SELECT count(*) FROM meta)") == [(0,)]
    monkeypatch.setattr(to_postgres, "_sqlite_rows", real)
    assert move(capsys, move_env)[0] == 0  # empty again: the move can be run once fixed


def test_a_source_behind_the_release_is_sent_to_migrate_first(move_env, capsys, tmp_path):
    conn = schema.connect(tmp_path / "old.db")
    schema.apply(conn, schema.migrations()[0])
    conn.close()
    code, _, err = move(capsys, move_env, "--from", str(tmp_path / "old.db"))
    assert code == 78
    assert "run `guildbot-cli migrate`" in err
    code, _, err = move(capsys, move_env, "--from", str(tmp_path / "missing.db"))
    assert code == 1 and "missing.db does not exist" in err


def test_moving_the_configured_database_needs_its_bot_stopped(move_env, capsys, tmp_path):
    """The proof reads the SQLite database again after the copy: a bot writing to it meanwhile
    would make them differ, so the move takes the bot's run lock (a copy given by --from that
    is not the configured database does not need it)."""
    with cli.run_lock(cli.load_settings()):
        code, _, err = move(capsys, move_env)
        assert code == 1 and "the bot is running on" in err and "stop it first" in err
        assert sql(move_env, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == \
            [(0,)]
        (tmp_path / "copy.db").write_bytes((tmp_path / "g.db").read_bytes())
        code, out, _ = move(capsys, move_env, "--from", str(tmp_path / "copy.db"))
        assert code == 0 and json.loads(out)["guilds_proven"] == 22
