"""The one state-file helper (bot/statefiles.py) and the files that now go through it (issue 15,
"one helper per job")."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat

import pytest

from bot import periodic, statefiles
from bot.monitoring.alerting import WebhookLimiter
from bot.storage import backups, offsite


@pytest.fixture
def fsynced(monkeypatch):
    """What os.fsync was called on: 'file' or 'dir' per call, in order."""
    calls: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)
    monkeypatch.setattr(os, "fsync", record)
    return calls


def test_the_backup_status_file_is_written_durably(tmp_path, fsynced):
    """Regression (issue 15, one helper per job: ``backup.write_status`` without fsync): the
    status file the backup-age alert reads is fsynced before its rename and its directory after.
    Fails on the old code because it wrote ``backup-status.tmp`` and renamed it, fsyncing
    nothing: a power cut could leave an empty status (and a false "no backup" page)."""
    backups.write_status(tmp_path, result=None, error="disk full", now=5.0)
    assert fsynced == ["file", "dir"]
    status = json.loads((tmp_path / backups.STATUS_FILE).read_text())
    assert (status["last_failure"], status["last_error"]) == (5.0, "disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup-status.json"]  # no leftover


def test_the_offsite_status_file_is_written_durably(tmp_path, fsynced):
    """Regression (issue 15, one helper per job): ``offsite.write_status`` goes through the one
    atomic writer. Fails on the old code because it renamed an un-fsynced ``.tmp`` file."""
    offsite.write_status(tmp_path, pushed=None, error="no route", now=5.0)
    assert fsynced == ["file", "dir"]
    assert offsite.read_status(tmp_path)["failures"] == 1


def test_a_rename_is_made_durable_by_the_directory_fsync(tmp_path, fsynced):
    """Regression (issue 15: state-file writes are tmp + fsync + rename, dir fsync): the starts
    file (and every other state file) fsyncs its directory after the rename. Fails on the old
    code because ``stats.atomic_write_json`` fsynced the file only."""
    statefiles.StartsFile(tmp_path / statefiles.STARTS_FILE).record(100.0)
    assert fsynced == ["file", "dir"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_corrupt_offsite_status_is_named_in_the_log_not_a_crash(tmp_path, caplog, content):
    """Regression (issue 15: reads tolerate a corrupt file with a clear log line): a corrupt
    ``offsite-status.json`` reads as no status and says so, naming the file. Fails on the old
    code because ``offsite.read_status`` returned {} silently: /slo showed "never pushed" and
    nothing said why."""
    (tmp_path / offsite.STATUS_FILE).write_text(content)
    with caplog.at_level(logging.WARNING, logger="guildbot.statefiles"):
        assert offsite.read_status(tmp_path) == {}
    assert str(tmp_path / offsite.STATUS_FILE) in caplog.text


def test_a_corrupt_webhook_budget_is_named_in_the_log_and_replaced(tmp_path, caplog):
    """Regression (issue 15: one reader): the webhook limiter's shared budget file, corrupt,
    is logged and starts afresh; the next call rewrites it whole. Fails on the old code because
    ``WebhookLimiter`` parsed the file itself and ignored a corrupt one without a word."""
    path = tmp_path / "alerts-webhook.json"
    path.write_text("{torn")
    limiter = WebhookLimiter(10, path, clock=lambda: 1000.0)
    with caplog.at_level(logging.WARNING, logger="guildbot.statefiles"):
        assert limiter.acquire("k") is None
    assert "alert webhook state" in caplog.text and str(path) in caplog.text
    assert json.loads(path.read_text())["calls"] == [1000.0]


def test_the_lock_says_when_another_holder_has_it(tmp_path):
    """The one flock helper: a second holder without ``wait`` is told at once, and the lock is
    free again after the block."""
    path = tmp_path / "sub" / "x.lock"
    with statefiles.exclusive(path) as first:
        assert first
        with statefiles.exclusive(path) as second:  # another open file description: flock says no
            assert not second
    with statefiles.exclusive(path) as again:
        assert again


def test_a_failing_periodic_job_is_reported_and_runs_again():
    """The one periodic loop (bot.periodic): a job that raises is handed to ``on_error`` and the
    loop keeps its schedule; cancelling the loop ends it."""
    runs: list[int] = []
    errors: list[str] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    async def scenario() -> None:
        task = asyncio.create_task(periodic.every(0, job, first=0,
                                                  on_error=lambda exc: errors.append(str(exc))))
        while len(runs) < 3:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(scenario())
    assert errors == ["first run fails"]
