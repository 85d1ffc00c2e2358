"""Settings from the environment and secrets from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, load_settings

GUILD_A, GUILD_B = "111111111111111111", "222222222222222222"


def test_defaults_point_at_discord_and_need_no_secret():
    s = load_settings({})
    assert s.api_base == "https://discord.com/api/v10"
    assert s.gateway_url == "wss://gateway.discord.gg/"
    assert (s.stage, s.token, s.max_guilds, s.closed_to_new_guilds) == ("local", None, 0, False)
    assert s.state_dir == Path(".")
    with pytest.raises(ConfigError, match="GUILDBOT_TOKEN: no Discord bot token"):
        s.require_token()


def test_every_setting_is_read(tmp_path):
    s = load_settings({
        "GUILDBOT_TOKEN": "tok", "GUILDBOT_DATABASE": str(tmp_path / "db" / "g.db"),
        "GUILDBOT_STAGE": "Expanded", "GUILDBOT_GUILD_ALLOWLIST": f"{GUILD_A}, {GUILD_B}",
        "GUILDBOT_MAX_GUILDS": "10", "GUILDBOT_CLOSED_TO_NEW_GUILDS": "yes",
        "GUILDBOT_API_BASE": "http://127.0.0.1:9/api/v10/", "GUILDBOT_GATEWAY_URL": "ws://x/",
        "GUILDBOT_HEALTH_PORT": "0", "GUILDBOT_LOG_FORMAT": "json", "GUILDBOT_LOG_LEVEL": "debug",
        "GUILDBOT_ALERT_MEMORY_PCT": "70.5", "GUILDBOT_SHARD_COUNT": "2",
        "GUILDBOT_SYNC_COMMANDS": "off",
    })
    assert s.stage == "expanded"
    assert s.guild_allowlist == frozenset({int(GUILD_A), int(GUILD_B)})
    assert s.state_dir == tmp_path / "db"
    assert s.api_base == "http://127.0.0.1:9/api/v10"  # trailing slash dropped
    assert (s.max_guilds, s.closed_to_new_guilds, s.health_port) == (10, True, 0)
    assert (s.log_format, s.log_level, s.shard_count, s.sync_commands) == \
        ("json", "DEBUG", 2, False)
    assert s.alerts.memory_percent == 70.5
    assert s.secrets() == ["tok"]


def test_credentials_directory_wins_then_file_then_env(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "discord_token").write_text("from-credentials\n")
    (tmp_path / "t").write_text("from-file")
    env = {"GUILDBOT_TOKEN": "from-env", "GUILDBOT_TOKEN_FILE": str(tmp_path / "t")}
    assert load_settings(env).token.reveal() == "from-file"
    assert load_settings({**env, "CREDENTIALS_DIRECTORY": str(creds)}).token.reveal() == \
        "from-credentials"
    assert load_settings({"GUILDBOT_TOKEN": "from-env"}).token.reveal() == "from-env"
    (creds / "alert_webhook").write_text("https://example.invalid/hook")
    s = load_settings({"CREDENTIALS_DIRECTORY": str(creds)})
    assert s.alert_webhook_url.reveal() == "https://example.invalid/hook"


def test_secrets_never_show_themselves():
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in repr(load_settings({"GUILDBOT_TOKEN": "hunter2"}))


@pytest.mark.parametrize(("env", "message"), [
    ({"GUILDBOT_STAGE": "prod"}, "GUILDBOT_STAGE: 'prod' is not one of local, beta"),
    ({"GUILDBOT_STAGE": "beta"}, "GUILDBOT_GUILD_ALLOWLIST: stage beta admits only listed"),
    ({"GUILDBOT_GUILD_ALLOWLIST": "abc"}, "'abc' is not a Discord guild id"),
    ({"GUILDBOT_GUILD_ALLOWLIST": "12"}, "'12' is not a Discord guild id"),
    ({"GUILDBOT_MAX_GUILDS": "-1"}, "GUILDBOT_MAX_GUILDS: -1 is out of range"),
    ({"GUILDBOT_HEALTH_PORT": "70000"}, "GUILDBOT_HEALTH_PORT: 70000 is out of range"),
    ({"GUILDBOT_CLOSED_TO_NEW_GUILDS": "maybe"}, "'maybe' is not a boolean"),
    ({"GUILDBOT_API_BASE": "discord.com"}, "GUILDBOT_API_BASE: 'discord.com' is not a http"),
    ({"GUILDBOT_GATEWAY_URL": "http://x/"}, "GUILDBOT_GATEWAY_URL"),
    ({"GUILDBOT_ALERT_DISK_PCT": "nan"}, "GUILDBOT_ALERT_DISK_PCT"),
    ({"GUILDBOT_ALERT_CPU_PCT": "lots"}, "'lots' is not a number"),
    ({"GUILDBOT_LOG_FORMAT": "xml"}, "GUILDBOT_LOG_FORMAT"),
])
def test_bad_settings_name_the_setting_and_the_fix(env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert message in str(caught.value)
    assert "; " in str(caught.value)  # problem; fix


def test_unreadable_or_empty_secret_files(tmp_path):
    with pytest.raises(ConfigError, match="GUILDBOT_TOKEN_FILE: cannot read"):
        load_settings({"GUILDBOT_TOKEN_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_settings({"GUILDBOT_TOKEN_FILE": str(tmp_path / "empty")})


# -- the PostgreSQL backend -------------------------------------------------------------------
PG_URL = "postgresql://guildbot@db.internal:5432/guildbot"


def test_a_postgresql_url_chooses_postgres_and_the_password_comes_from_a_credential(tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "database_password").write_text("s3cret-pw\n")
    s = load_settings({"GUILDBOT_DATABASE": PG_URL, "CREDENTIALS_DIRECTORY": str(creds),
                       "GUILDBOT_DB_POOL_SIZE": "4"})
    assert (s.backend, s.database_url, s.db_pool_size) == ("postgres", PG_URL, 4)
    assert s.database_password == Secret("s3cret-pw")
    assert s.database_name == PG_URL
    assert "s3cret-pw" in s.secrets()  # so the log redaction filter hides it
    assert "s3cret-pw" not in repr(s)
    assert s.state_dir == Path(".")


def test_the_password_file_setting_is_read_and_sqlite_stays_the_default(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-a-file")
    s = load_settings({"GUILDBOT_DATABASE": PG_URL,
                       "GUILDBOT_DATABASE_PASSWORD_FILE": str(secret)})
    assert s.database_password == Secret("from-a-file")
    default = load_settings({})
    assert (default.backend, default.database_url, default.db_pool_size) == ("sqlite", None, 10)
    assert default.database_name == "guildbot.db"


@pytest.mark.parametrize("url", [
    "postgresql://guildbot:hunter2-pw@db.internal/guildbot",
    "postgres://guildbot:hunter2-pw@db.internal:5432/guildbot",
    "postgresql://guildbot@db.internal/guildbot?password=hunter2-pw",
])
def test_a_password_in_the_url_is_refused_without_repeating_it(url):
    with pytest.raises(ConfigError, match="carries a password") as caught:
        load_settings({"GUILDBOT_DATABASE": url})
    assert "hunter2-pw" not in str(caught.value)
    assert "database_password" in str(caught.value)  # the fix names the credential


def test_a_password_in_the_environment_is_refused():
    with pytest.raises(ConfigError, match="not read from the environment") as caught:
        load_settings({"GUILDBOT_DATABASE": PG_URL, "GUILDBOT_DATABASE_PASSWORD": "hunter2-pw"})
    assert "hunter2-pw" not in str(caught.value)


@pytest.mark.parametrize(("url", "problem"), [
    ("postgresql:///guildbot", "names no host"),
    ("postgresql://guildbot@db.internal:99999/guildbot", "invalid port"),
    ("postgresql://guildbot@db.internal/", "names no database"),
])
def test_an_incomplete_url_names_what_is_missing(url, problem):
    with pytest.raises(ConfigError, match=problem):
        load_settings({"GUILDBOT_DATABASE": url})


# -- shards of one process --------------------------------------------------------------------
@pytest.mark.parametrize(("ids", "expected"), [
    ("0-3", (0, 1, 2, 3)), ("4,5", (4, 5)), ("6, 0-1", (0, 1, 6)), ("7", (7,)),
])
def test_shard_ids_take_ids_and_ranges(ids, expected):
    s = load_settings({"GUILDBOT_DATABASE": PG_URL, "GUILDBOT_SHARD_COUNT": "8",
                       "GUILDBOT_SHARD_IDS": ids})
    assert (s.shard_count, s.shard_ids) == (8, expected)
    assert load_settings({"GUILDBOT_SHARD_COUNT": "8"}).shard_ids is None  # all of them


@pytest.mark.parametrize(("env", "message"), [
    ({"GUILDBOT_SHARD_COUNT": "4", "GUILDBOT_SHARD_IDS": "0-1"},
     "needs the shared PostgreSQL database"),
    ({"GUILDBOT_DATABASE": PG_URL, "GUILDBOT_SHARD_IDS": "0"}, "set GUILDBOT_SHARD_COUNT"),
    ({"GUILDBOT_DATABASE": PG_URL, "GUILDBOT_SHARD_COUNT": "4", "GUILDBOT_SHARD_IDS": "2-5"},
     "outside 0-3"),
    ({"GUILDBOT_DATABASE": PG_URL, "GUILDBOT_SHARD_COUNT": "4", "GUILDBOT_SHARD_IDS": "3-1"},
     "outside 0-3"),
    ({"GUILDBOT_DATABASE": PG_URL, "GUILDBOT_SHARD_COUNT": "4", "GUILDBOT_SHARD_IDS": "a"},
     "not a shard id"),
])
def test_bad_shard_ids_are_refused_with_the_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
