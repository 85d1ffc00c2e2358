"""The benchmark's PostgreSQL 15: a throwaway cluster of its own (tests/pgserver.py, in the
temporary directory, where the server's user can reach it) on the same machine, configured as
production would run it, and what its processes cost (CPU, memory), measured apart from the
bot's. The results name the file system of its data and of the SQLite file (:func:`filesystem`),
so a run shows whether both backends wrote to the same disk.

Durability is production's: fsync, synchronous_commit and full_page_writes on (the tests' server
turns them off; those speed-ups are not for the benchmark). Memory is sized for a 2-core box
that also runs the bot (a small VPS of about 4 GiB): shared_buffers holds the whole seeded world
(about 180 MB of tables and indexes) and leaves the rest to the bot and the page cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil

from tests.pgserver import PostgresServer

BENCH_SETTINGS = "\n".join((
    "fsync = on",
    "synchronous_commit = on",
    "full_page_writes = on",
    "max_connections = 40",  # the bot's pool (GUILDBOT_DB_POOL_SIZE, 10) and operator tools
    "shared_buffers = 256MB",  # the seeded world is about 180 MB of tables and indexes
    "effective_cache_size = 1GB",
    "work_mem = 4MB",
    "maintenance_work_mem = 128MB",  # the seeder's index build
    "wal_buffers = 16MB",
    "max_wal_size = 1GB",
    "checkpoint_completion_target = 0.9",
    "random_page_cost = 1.1",  # a virtio SSD, not a spinning disk
    # Short primary-key statements on two cores: no parallel workers, no JIT compilation.
    "max_parallel_workers_per_gather = 0",
    "jit = off",
    "",
))


def filesystem(path: Path) -> str:
    """The device, mount point and type of the file system holding ``path``."""
    path = path.resolve()
    best = None
    for part in psutil.disk_partitions(all=True):
        mount = Path(part.mountpoint)
        if (path == mount or mount in path.parents) and (
                best is None or len(part.mountpoint) > len(best.mountpoint)):
            best = part
    return f"{best.device} on {best.mountpoint} ({best.fstype})" if best else "unknown"


class BenchPostgres:
    """One bench-owned cluster, torn down by :meth:`destroy`."""

    def __init__(self) -> None:
        self.server = PostgresServer.create(settings=BENCH_SETTINGS)
        self.database = self.server.new_database("bench")

    @property
    def url(self) -> str:
        """GUILDBOT_DATABASE for the bot: the bot's role over TCP, no password."""
        return self.server.url(self.database)

    def password_file(self, directory: Path) -> Path:
        return self.server.password_file(directory)

    def checkpoint(self) -> None:
        """Write every dirty page now (a superuser's CHECKPOINT), so a checkpoint of the
        seeding's writes does not land in a measured step."""
        self.server.psql("CHECKPOINT")

    def settings(self) -> dict[str, str]:
        """The server's durability and memory settings as it reports them."""
        names = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers",
                 "work_mem", "effective_cache_size", "max_connections", "server_version")
        rows = self.server.psql(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ("
            + ", ".join(f"'{n}'" for n in names) + ")")
        return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)

    def _postmaster(self) -> psutil.Process:
        pid = int((self.server.datadir / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)

    def cpu_seconds(self) -> float:
        """CPU the server has used: the postmaster, its live processes, and (through the
        postmaster's children times) every process of it that has exited."""
        main = self._postmaster()
        times = main.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in main.children():
            try:
                t = child.cpu_times()
            except psutil.Error:  # exited meanwhile: its time moved to children_*
                continue
            total += t.user + t.system
        return total

    def memory(self) -> dict[str, Any]:
        """RSS (counts shared buffers once per process that touched them) and PSS (shares
        them out: the server's real footprint) summed over its processes, in MB."""
        main = self._postmaster()
        rss = pss = 0
        count = 0
        for proc in (main, *main.children()):
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            rss += info.rss
            pss += info.pss
            count += 1
        return {"rss_mb": round(rss / 2**20, 1), "pss_mb": round(pss / 2**20, 1),
                "processes": count}

    def destroy(self) -> None:
        self.server.destroy()
