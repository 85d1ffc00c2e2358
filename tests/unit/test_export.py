"""/admin export and the operator's export on big guilds: bounded memory, one at a time.

The guilds are seeded straight into a real SQLite database; memory is Python's own allocations
(tracemalloc, every thread) at their peak during one export. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import tracemalloc

import pytest

from bot import cli, i18n
from bot.cogs import admin
from bot.cogs._common import Person
from bot.domain.errors import UserError
from bot.storage.export import ExportTooLarge, size_floor
from bot.storage.sqlite import repository
from tests.fixtures.big_guild import seed_guild

G = 777777777777777777
ANN = Person(1, "ann", admin=True)
NOW = 1_710_072_000.0
MIB = 1024 * 1024


async def peak_of(work) -> tuple[object, int]:
    """Run ``work`` (an awaitable) and return its result (or exception) and the peak bytes.
    Babel's locale data, loaded once per process by the first formatted number or date, is
    loaded before measuring: it is not the export's memory."""
    i18n.number(1)
    i18n.when(0)
    tracemalloc.start()
    try:
        try:
            result = await work
        except Exception as exc:  # noqa: BLE001 - the caller looks at it
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_a_guild_past_the_limit_is_refused_before_a_row_is_read(storage, db_path):
    """Regression (issue 13, item 10): 60,000 members cannot fit in 8 MiB whatever their
    names (their keys alone pass it), so /admin export refuses at once, naming the operator's
    export, without reading a row. Fails on the old code because it built the whole guild as
    dicts and JSON first (about 160 MB at its peak, against 1 MiB here)."""
    seed_guild(db_path, G, 60_000)
    repo = storage.guild(G)
    assert size_floor(await repo.export_counts()) > admin.EXPORT_LIMIT_BYTES
    refused, peak = await peak_of(admin.do_export(repo, ANN, NOW))
    assert peak < 1 * MIB
    assert isinstance(refused, UserError)
    assert f"guildbot-cli export --guild-id {G} --out FILE" in str(refused)
    assert "8 MiB" in str(refused)


async def test_a_guild_near_the_limit_streams_with_bounded_memory(storage, db_path):
    """Regression (issue 13, item 10): a guild whose row counts do not rule it out (40,000
    members, about 10 MiB of JSON) is streamed into a buffer that stops at the 8 MiB limit:
    memory stays near the limit and the answer names the operator's export. Fails on the old
    code because it held the whole guild as dicts, a JSON string and bytes at once (about
    107 MB at its peak)."""
    seed_guild(db_path, G, 40_000)
    repo = storage.guild(G)
    assert size_floor(await repo.export_counts()) < admin.EXPORT_LIMIT_BYTES
    refused, peak = await peak_of(admin.do_export(repo, ANN, NOW))
    assert peak < admin.EXPORT_LIMIT_BYTES + 2 * MIB
    assert isinstance(refused, UserError)
    assert "guildbot-cli export" in str(refused)


async def test_a_guild_that_fits_is_exported_whole(storage, db_path):
    """A guild under the limit gets its whole export, with memory about the export's size."""
    seed_guild(db_path, G, 20_000, challenges=500)
    reply, peak = await peak_of(admin.do_export(storage.guild(G), ANN, NOW))
    name, blob = reply.file
    data = json.loads(blob)
    assert name == f"guildbot-export-{G}.json"
    assert (len(data["members"]), len(data["challenges"])) == (20_000, 500)
    assert data["members"][0]["user_id"] == "100000000000000000"
    assert data["exported_at"].startswith("2024-03-10T12:00")
    assert reply.content == "Export: 20,000 members, 500 challenges."
    assert peak < 2 * len(blob) + MIB


async def test_the_attachment_limit_comes_from_the_interaction(storage, db_path):
    seed_guild(db_path, G, 2_000)
    repo = storage.guild(G)
    with pytest.raises(UserError, match="larger than the 0.25 MiB"):
        await admin.do_export(repo, ANN, NOW, attachment_limit=MIB // 4)
    assert (await admin.do_export(repo, ANN, NOW, attachment_limit=2 * MIB)).file is not None
    # Past the ceiling, the ceiling holds (the export is built in memory).
    many = await admin.do_export(repo, ANN, NOW, attachment_limit=500 * MIB)
    assert len(many.file[1]) < admin.EXPORT_MAX_BYTES


async def test_one_export_at_a_time(storage, db_path):
    """Regression (issue 13, item 10): a second /admin export while one runs (in this guild or
    any other) is answered "busy" at once; the next one after it works. Fails on the old code
    because both ran, each building its guild in memory (the second got its attachment)."""
    seed_guild(db_path, G, 5_000)
    seed_guild(db_path, G + 1, 10)
    first, second = await asyncio.gather(
        admin.do_export(storage.guild(G), ANN, NOW),
        admin.do_export(storage.guild(G + 1), ANN, NOW), return_exceptions=True)
    assert len(json.loads(first.file[1])["members"]) == 5_000
    assert isinstance(second, UserError)
    assert "An export is already running; try again in a minute." in str(second)
    again = await admin.do_export(storage.guild(G + 1), ANN, NOW)
    assert len(json.loads(again.file[1])["members"]) == 10


async def test_the_export_is_written_off_the_event_loop(storage, db_path):
    """Every byte of the export is produced on a worker thread, and a writer that refuses
    (ExportTooLarge) stops the export and reaches the caller."""
    seed_guild(db_path, G, 3_000)
    threads: set[int] = set()

    class Recorder:
        def __init__(self, stop_after: int | None = None) -> None:
            self.size, self.stop_after = 0, stop_after

        def write(self, data: bytes) -> int:
            threads.add(threading.get_ident())
            self.size += len(data)
            if self.stop_after is not None and self.size > self.stop_after:
                raise ExportTooLarge("stop")
            return len(data)

    repo = storage.guild(G)
    counts = await repo.export_to(Recorder(), "t")
    assert counts == {"members": 3_000, "challenges": 0, "audit": 0}
    assert threads and threading.get_ident() not in threads
    with pytest.raises(ExportTooLarge):
        await repo.export_to(Recorder(stop_after=10_000), "t")


@pytest.fixture
def cli_env(db_path, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("GUILDBOT_") or key == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("GUILDBOT_DATABASE", str(db_path))
    monkeypatch.setenv("GUILDBOT_BACKUP_DIR", str(db_path.parent / "backups"))
    return db_path.parent


def test_the_operator_export_streams_a_big_guild_to_a_file(cli_env, db_path, capsys):
    """Regression (issue 13, item 10): ``guildbot-cli export --out FILE`` of 50,000 members
    streams to the file with memory bounded by a row, not by the guild. Fails on the old code
    because it built the guild as dicts and one JSON string (about 127 MB at its peak here;
    past the unit's 512M MemoryMax at 200,000 members)."""
    seed_guild(db_path, G, 50_000, challenges=1_000)
    out = cli_env / "export.json"
    # The same command on a tiny guild first, so the modules the CLI imports on its way (its
    # backends, asyncio's, the logging set-up) are not counted as the export's memory.
    seed_guild(db_path, G + 1, 1)
    assert cli.main(["export", "--guild-id", str(G + 1), "--out", str(cli_env / "warm.json")]) == 0
    capsys.readouterr()
    tracemalloc.start()
    try:
        assert cli.main(["export", "--guild-id", str(G), "--out", str(out)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB, peak
    assert "wrote 50000 members and 1000 challenges" in capsys.readouterr().out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (len(data["members"]), len(data["challenges"])) == (50_000, 1_000)
    assert data["guild_id"] == str(G)
    assert out.stat().st_mode & 0o077 == 0  # guild data: readable by its owner only


def test_a_failed_operator_export_leaves_the_file_as_it_was(cli_env, db_path, monkeypatch):
    seed_guild(db_path, G, 1_000)
    out = cli_env / "export.json"
    out.write_text("the previous export")

    def broken(out_, header, sections):
        out_.write(b"{ half a document")
        raise OSError("disk full")

    monkeypatch.setattr(repository, "write_document", broken)
    with pytest.raises(OSError, match="disk full"):
        cli.main(["export", "--guild-id", str(G), "--out", str(out)])
    assert out.read_text() == "the previous export"
    assert sorted(p.name for p in cli_env.iterdir() if "export" in p.name) == ["export.json"]


def test_the_operator_export_to_stdout(cli_env, db_path, capsysbinary):
    seed_guild(db_path, G, 3)
    assert cli.main(["export", "--guild-id", str(G)]) == 0
    data = json.loads(capsysbinary.readouterr().out)
    assert [m["display_name"] for m in data["members"]] == ["member 0", "member 1", "member 2"]
