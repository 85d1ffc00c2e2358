"""Off-host backups with a real restic and a local repository (issue 16, part 1): the push from
``backup``, its tags and time, retention mirroring the local tiers, the restore round trip, the
failure path (status, alert, exit 1, the local backup kept) and where the secrets go."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard

from bot import cli
from bot.config import ConfigError, load_settings
from bot.monitoring import alerting
from bot.storage import backups, offsite
from bot.storage.sqlite import schema
from tests.fixtures.pytest_plugin import make_database

pytestmark = pytest.mark.skipif(shutil.which("restic") is None,
                                reason="restic is not installed (scripts/setup-dev.sh installs it)")
PASSWORD = "offsite-test-password-7f3a"


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("GUILDBOT_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    (tmp_path / "offsite_password").write_text(PASSWORD + "\n")
    monkeypatch.setenv("GUILDBOT_DATABASE", str(tmp_path / "g.db"))
    monkeypatch.setenv("GUILDBOT_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("GUILDBOT_STAGE", "local")
    monkeypatch.setenv("GUILDBOT_OFFSITE_REPOSITORY", str(tmp_path / "repo"))
    monkeypatch.setenv("GUILDBOT_OFFSITE_PASSWORD_FILE", str(tmp_path / "offsite_password"))
    monkeypatch.setenv("GUILDBOT_OFFSITE_HOST", "bot-a")
    conn = schema.connect(make_database(tmp_path / "g.db"))
    conn.execute("INSERT INTO guilds (guild_id, name, joined_at) VALUES (1, 'g', 0)")
    conn.executemany("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                     "VALUES (1, ?, 'm', 0)", [(i,) for i in range(40)])
    conn.close()
    assert cli.main(["offsite", "init"]) == 0
    return tmp_path


@pytest.fixture
def alerts(monkeypatch):
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(alerting, "send_one_off",
                        lambda settings, key, text: sent.append((key, text)) or False)
    return sent


def _repo() -> offsite.Repository:
    repo = offsite.repository(load_settings())
    assert repo is not None
    return repo


def _members(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]
    finally:
        conn.close()


def test_backup_pushes_the_verified_uncompressed_copy_with_tags_and_time(env, capsys, alerts):
    """Regression (issue 16, item 1): every verified backup also goes off-host. Fails on the old
    code because `backup` pushed nothing (there is no snapshot, no offsite-status.json)."""
    capsys.readouterr()
    assert cli.main(["backup", "--kind", "scheduled"]) == 0
    report = json.loads(capsys.readouterr().out)
    [snap] = offsite.snapshots(_repo())
    assert snap["id"].startswith(report["offsite"]["snapshot"])
    assert snap["hostname"] == "bot-a"
    assert snap["paths"] == ["/guildbot.db"]
    assert set(snap["tags"]) == {"stage=local", "backend=sqlite", "kind=scheduled",
                                 "tier=daily", "tier=weekly", "tier=monthly"}
    local = Path(report["path"])
    assert snap["time"].startswith(backups.taken_at(local).strftime("%Y-%m-%dT%H:%M:%S"))
    # What was pushed is the local backup's verified database, uncompressed (restic dedups it).
    pushed = subprocess.run(
        ["restic", "-r", str(env / "repo"), "--password-file", str(env / "offsite_password"),
         "--no-cache", "dump", snap["id"], "/guildbot.db"], capture_output=True, check=True).stdout
    assert hashlib.sha256(pushed).digest() == hashlib.sha256(zstandard.decompress(
        local.read_bytes())).digest()
    status = offsite.read_status(env)
    assert status["successes"] == 1 and status["last_error"] is None
    assert status["newest_time"] == backups.taken_at(local).timestamp()
    assert alerts == []


def test_retention_mirrors_the_local_tiers(env):
    """Regression (issue 16, item 1): the repository keeps what the local GFS tiers keep (7
    daily, 4 weekly, 12 monthly) and each other kind's newest N. Fails on the old code because
    there was no off-host retention (nor any push)."""
    repo, db = _repo(), env / "g.db"
    start = datetime(2025, 6, 15, 3, 17, tzinfo=UTC)
    # 14 months with one backup each, 6 weekly ones, then 10 days in a row: each tier's count
    # (7 days, 4 weeks, 12 months) decides what goes.
    days = [start.replace(year=2025 + (5 + n) // 12, month=(5 + n) % 12 + 1) for n in range(14)]
    days += [datetime(2026, 8, 3, 3, 17, tzinfo=UTC) + timedelta(weeks=n) for n in range(6)]
    days += [datetime(2026, 10, 1, 3, 17, tzinfo=UTC) + timedelta(days=n) for n in range(10)]
    for day in days:
        offsite.snapshot(repo, db, backups.SCHEDULED, day)
    for n in range(11):
        offsite.snapshot(repo, db, "pre-deploy", start + timedelta(hours=n))
    offsite.forget(repo, backups.SCHEDULED)
    offsite.forget(repo, "pre-deploy")
    kept = {snap["time"][:16] for snap in offsite.snapshots(repo) if "kind=scheduled" in
            snap["tags"]}
    # The local rule on the same times: the union of each tier's retained names.
    names = [Path(backups.backup_name(d.timestamp(), ".db.zst")) for d in reversed(days)]
    expected = {backups.taken_at(p).strftime("%Y-%m-%dT%H:%M")
                for periods, period_of in backups.TIERS.values()
                for p in backups.retained(names, periods, period_of)}
    assert kept == expected
    assert 7 + 4 < len(kept) < len(days)
    deploys = [s for s in offsite.snapshots(repo) if "kind=pre-deploy" in s["tags"]]
    assert len(deploys) == backups.KEEP_NEWEST["pre-deploy"]


def test_restore_brings_back_the_newest_pushed_backup(env, capsys, alerts):
    """Regression (issue 16, item 2): a host rebuilt from nothing restores the newest off-host
    backup through the verified restore path; what was written after the push is absent (the
    RPO). Fails on the old code because there was no `offsite restore`."""
    db = env / "g.db"
    assert cli.main(["backup"]) == 0
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO members (guild_id, user_id, display_name, registered_at) "
                 "VALUES (1, 999, 'after the push', 0)")
    conn.commit()
    conn.close()
    assert _members(db) == 41
    for path in db.parent.glob("g.db*"):     # the host is lost: no database, no local backups
        path.unlink()
    shutil.rmtree(env / "backups")
    capsys.readouterr()
    assert cli.main(["offsite", "restore"]) == 1          # --yes is required
    assert cli.main(["offsite", "restore", "--yes"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["previous_integrity"] == "missing"
    assert result["rows"]["members"] == 40 and _members(db) == 40
    assert result["snapshot_age_seconds"] >= 0
    assert not list((env / "backups").glob(".offsite-*")), "scratch left behind"


def test_a_failed_push_alerts_records_and_keeps_the_local_backup(env, capsys, alerts):
    """Regression (issue 16, item 1): a push that fails (here: the repository's password
    changed) writes offsite-status.json's error and failure count, alerts like a failed
    backup and exits 3 (not 1: the local backup stays published and recorded as a success, so a
    deploy's pre-deploy backup goes on).
    Fails on the old code because nothing was pushed, so nothing could fail or alert."""
    (env / "offsite_password").write_text("not the repository's password\n")
    capsys.readouterr()
    assert cli.main(["backup", "--kind", "scheduled"]) == cli.EX_OFFSITE_FAILED == 3
    err = capsys.readouterr().err
    assert "off-host push failed" in err
    status = offsite.read_status(env)
    assert status["failures"] == 1 and "restic backup failed" in status["last_error"]
    assert json.loads((env / "backup-status.json").read_text())["last_error"] is None
    assert len(list((env / "backups" / "daily").glob("*.db.zst"))) == 1
    assert [key for key, _ in alerts] == ["offsite_failed"]
    assert offsite.summary(env, 0)["failures"] == 1


def test_secrets_reach_restic_only_through_private_files(tmp_path):
    """The password, SSH key and S3 keys are in 0600 files of a 0700 directory that is gone
    after the call; never in argv or the environment. The sftp target comes from the URL."""
    (tmp_path / "p").write_text("pw-secret")
    (tmp_path / "k").write_text("key-secret")
    (tmp_path / "a").write_text("akid-secret")
    (tmp_path / "s").write_text("sak-secret")
    settings = load_settings({
        "GUILDBOT_OFFSITE_REPOSITORY": "sftp://restic@backup.example:2222//srv/restic",
        "GUILDBOT_OFFSITE_PASSWORD_FILE": str(tmp_path / "p"),
        "GUILDBOT_OFFSITE_SSH_KEY_FILE": str(tmp_path / "k"),
        "GUILDBOT_OFFSITE_S3_ACCESS_KEY_ID_FILE": str(tmp_path / "a"),
        "GUILDBOT_OFFSITE_S3_SECRET_ACCESS_KEY_FILE": str(tmp_path / "s"),
        "GUILDBOT_OFFSITE_KNOWN_HOSTS": "/etc/guildbot/offsite_known_hosts"})
    repo = offsite.repository(settings)
    assert repo is not None
    assert {"pw-secret", "key-secret", "akid-secret", "sak-secret"} <= set(settings.secrets())
    with offsite._restic(repo) as (args, env):
        text = " ".join(args) + " ".join(f"{k}={v}" for k, v in env.items())
        for secret in ("pw-secret", "key-secret", "akid-secret", "sak-secret"):
            assert secret not in text
        private = Path(args[args.index("--password-file") + 1]).parent
        assert private.stat().st_mode & 0o777 == 0o700
        assert {p.name: p.stat().st_mode & 0o777 for p in private.iterdir()} == {
            "password": 0o600, "ssh_key": 0o600, "aws_credentials": 0o600}
        command = next(a for a in args if a.startswith("sftp.command="))
        assert command.endswith("-p 2222 restic@backup.example -s sftp")
        assert "UserKnownHostsFile=/etc/guildbot/offsite_known_hosts" in command
    assert not private.exists()


@pytest.mark.parametrize(("env", "setting"), [
    ({"GUILDBOT_OFFSITE_REPOSITORY": "ftp://x/y"}, "GUILDBOT_OFFSITE_REPOSITORY"),
    ({"GUILDBOT_OFFSITE_REPOSITORY": "/srv/r", "GUILDBOT_OFFSITE_PASSWORD": "pw"},
     "GUILDBOT_OFFSITE_PASSWORD"),
])
def test_bad_offsite_settings_are_one_clear_error(env, setting):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.setting == setting
    assert "pw" not in str(caught.value).replace("PASSWORD", "")


@pytest.mark.parametrize("url", ["sftp:backup.example", "sftp://backup.example", "sftp::/x"])
def test_a_malformed_sftp_repository_is_a_configuration_error(tmp_path, capsys, monkeypatch,
                                                               url):
    for key in list(__import__("os").environ):
        if key.startswith("GUILDBOT_"):
            monkeypatch.delenv(key)
    (tmp_path / "p").write_text("pw")
    monkeypatch.setenv("GUILDBOT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("GUILDBOT_OFFSITE_REPOSITORY", url)
    monkeypatch.setenv("GUILDBOT_OFFSITE_PASSWORD_FILE", str(tmp_path / "p"))
    assert cli.main(["offsite", "init"]) == 78
    assert "GUILDBOT_OFFSITE_REPOSITORY: the sftp repository" in capsys.readouterr().err


def test_the_password_is_required_by_the_jobs_not_by_the_bot(tmp_path, capsys):
    """The bot's own process loads settings without the offsite password (it only shows the
    status); every offsite job refuses without it, exit 78 naming the credential."""
    env = {"GUILDBOT_OFFSITE_REPOSITORY": "/srv/r", "GUILDBOT_STATE_DIR": str(tmp_path)}
    settings = load_settings(env)
    assert settings.offsite is not None and settings.offsite.password is None
    with pytest.raises(ConfigError) as caught:
        offsite.repository(settings)
    assert caught.value.setting == "GUILDBOT_OFFSITE_PASSWORD_FILE"


def test_the_weekly_check_reads_data_and_alerts_on_damage(env, capsys, alerts):
    """Regression (issue 16, item 1): `offsite check` (cron, weekly) runs restic check with a
    read-data subset; a damaged pack makes it exit 1 and alert `offsite_check_failed`. Fails on
    the old code because there was no off-host repository to check."""
    assert cli.main(["backup"]) == 0
    capsys.readouterr()
    assert cli.main(["offsite", "check", "--subset", "100%"]) == 0
    assert json.loads(capsys.readouterr().out)["read_data_subset"] == "100%"
    pack = max((p for p in (env / "repo" / "data").rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)
    pack.chmod(0o600)  # restic writes its files read-only
    pack.write_bytes(pack.read_bytes()[:-64] + bytes(64))
    assert cli.main(["offsite", "check", "--subset", "100%"]) == 1
    assert [key for key, _ in alerts] == ["offsite_check_failed"]
