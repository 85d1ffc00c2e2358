"""The e2e fixtures: the fake Discord with two guilds, and bot processes on a backend.

The bot runs on SQLite unless a module parametrizes ``backend`` (``ON_BOTH_BACKENDS``: SQLite
and PostgreSQL, one suite). On PostgreSQL every bot process gets a new database, a copy of the
session's migrated template (``pg_template``), dropped after the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.harness import BotDatabase, BotProcess, PostgresDatabase, SqliteDatabase
from tests.fake_discord import FakeDiscord
from tests.pgserver import BOT_PASSWORD

BACKENDS = ("sqlite", "postgres")
ON_BOTH_BACKENDS = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

# Shaped like a real bot token, so the log check below would notice it anywhere.
TOKEN = "MTE4NzY1NDMyMTA5ODc2NTQzMg.GhIjKl.s3cr3t-t0k3n-Abcdefghijklmnopqrstuvwxyz012"

pytestmark = pytest.mark.e2e


@dataclass
class World:
    fake: FakeDiscord
    alpha: object
    beta: object
    ann: object  # admin of Alpha, plain member of Beta (same user)
    bob: object
    cid: object
    robot: object
    ann_b: object
    bob_b: object
    dan_b: object


@pytest.fixture
async def world():
    fake = FakeDiscord(token=TOKEN, validate=True)
    await fake.start()
    alpha = fake.add_guild("Alpha")
    beta = fake.add_guild("Beta")
    ann = alpha.add_member("ann", permissions="manage_guild")
    bob = alpha.add_member("bob")
    cid = alpha.add_member("cid")
    robot = alpha.add_member("robot", bot=True)
    ann_b = beta.add_member("ann", user_id=ann.user.id)
    bob_b = beta.add_member("bob", user_id=bob.user.id, permissions="manage_guild")
    dan_b = beta.add_member("dan")
    try:
        yield World(fake, alpha, beta, ann, bob, cid, robot, ann_b, bob_b, dan_b)
    finally:
        await fake.stop()
    fake.assert_no_errors()


@pytest.fixture
def backend(request) -> str:
    """The bot's database: SQLite, or what the module parametrizes (ON_BOTH_BACKENDS)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def new_database(request, backend):
    """Makes a bot process's database in its work directory (PostgreSQL: a template copy)."""
    made: list[PostgresDatabase] = []
    if backend == "postgres":  # the server and template start only when a test asks for them
        server = request.getfixturevalue("postgres_server")
        template = request.getfixturevalue("pg_template")

    def make(workdir) -> BotDatabase:
        if backend == "sqlite":
            return SqliteDatabase(workdir / "guildbot.db")
        name = server.new_database("e2e", template=template)
        made.append(PostgresDatabase(server, name, workdir))
        return made[-1]

    yield make
    for database in made:
        database.server.drop_database(database.name)


@pytest.fixture
def make_bot(tmp_path, world, new_database):
    """Start bot processes for a test; each is stopped with SIGTERM and must exit 0 cleanly."""
    started: list[BotProcess] = []

    async def start(**settings: str) -> BotProcess:
        workdir = tmp_path / f"bot{len(started)}"
        workdir.mkdir()
        bot = BotProcess(workdir, world.fake, new_database(workdir), **settings)
        started.append(bot)
        await bot.start()
        await bot.wait_ready()
        return bot

    yield start
    for bot in started:
        if bot.proc is not None and bot.proc.returncode is None:
            raise AssertionError("a test left its bot running")
        logs = bot.log_path.read_text() if bot.log_path.exists() else ""
        assert TOKEN not in logs, "the token reached the bot's log"
        assert TOKEN.split(".")[2] not in logs
        assert BOT_PASSWORD not in logs, "the database password reached the bot's log"


@pytest.fixture
async def bot(make_bot):
    process = await make_bot()
    yield process
    assert await process.stop() == 0, process.log_tail()
    output = await process.output()
    assert TOKEN not in output and BOT_PASSWORD not in output
