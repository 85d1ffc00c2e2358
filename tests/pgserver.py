"""A throwaway PostgreSQL 15 server for the tests: Debian's binaries, a cluster in a temporary
directory, torn down at the end of the session.

The superuser (``postgres``) connects over the cluster's own Unix socket without a password; the
bot's role (``guildbot``) connects over TCP on 127.0.0.1 with a password checked by
scram-sha-256, as it does in production, so every test that opens a PostgreSQL storage also goes
through the credential path. :meth:`PostgresServer.stop` and :meth:`PostgresServer.start` take the
server away under a running bot and bring it back (the "database unreachable" tests).

As root (CI, the containers' controller) the cluster runs as Debian's ``postgres`` user, the way
``pg_virtualenv`` does it; initdb refuses to run as root.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("GUILDBOT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
BOT_ROLE = "guildbot"
BOT_PASSWORD = "test-only-password-Ayoo7ahx"  # a throwaway cluster's, never a real one
# A test server: durability is not what is under test, speed is welcome.
TEST_SETTINGS = ("max_connections = 200\nshared_buffers = 64MB\n"
                 "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")


class PostgresMissing(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    base: Path
    port: int
    run_as: str | None  # the user the server runs as when we are root
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def create(cls, settings: str = TEST_SETTINGS) -> PostgresServer:
        """A new cluster, started, with the bot's role. ``settings`` go into postgresql.conf
        (the tests' speed-ups by default; the benchmark passes production durability)."""
        if not (PG_BIN / "initdb").exists():
            raise PostgresMissing(
                f"PostgreSQL 15 is not installed ({PG_BIN}/initdb is missing): run ./run setup, "
                "which installs Debian's postgresql package")
        run_as = "postgres" if os.geteuid() == 0 else None
        base = Path(tempfile.mkdtemp(prefix="guildbot-pg-"))
        server = cls(base=base, port=_free_port(), run_as=run_as)
        server.socket_dir.mkdir()
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chmod(base, 0o755)
            os.chown(server.socket_dir, entry.pw_uid, entry.pw_gid)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        server._pg("initdb", "-D", str(server.datadir), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        with open(server.datadir / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {server.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{server.socket_dir}'\n"
                + settings)
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chown(server.datadir / "postgresql.conf", entry.pw_uid, entry.pw_gid)
        server.start()
        server.psql(f"CREATE ROLE {BOT_ROLE} LOGIN CREATEDB PASSWORD '{BOT_PASSWORD}'")
        return server

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd="/")

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.datadir), "-l", str(self.base / "server.log"),
                 "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    # -- use --------------------------------------------------------------------------------
    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the socket; its output (unaligned, tuples only)."""
        result = self._pg("psql", "-h",
                          str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d",
                          database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def superuser_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def url(self, database: str) -> str:
        """What an operator puts in GUILDBOT_DATABASE: the bot's role, no password."""
        return f"postgresql://{BOT_ROLE}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t", template: str | None = None) -> str:
        """A new empty database owned by the bot's role (a copy of ``template`` if given)."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        clause = f" TEMPLATE {template}" if template else ""
        self.psql(f"CREATE DATABASE {name} OWNER {BOT_ROLE}{clause}")
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def password_file(self, directory: Path) -> Path:
        """The bot role's password in a 0600 file (GUILDBOT_DATABASE_PASSWORD_FILE)."""
        path = directory / "database_password"
        path.write_text(BOT_PASSWORD + "\n")
        path.chmod(0o600)
        return path
