"""Off-host backups: every verified backup also goes to a restic repository (issue 16).

The repository (``GUILDBOT_OFFSITE_REPOSITORY``: ``sftp:USER@HOST:/PATH``,
``sftp://USER@HOST:PORT//PATH`` or ``s3:...``) is encrypted with the offsite password and
deduplicated by restic. What is pushed is the verified uncompressed copy (SQLite: the database
file the backup checked before compressing it; PostgreSQL: the verified ``.pgdump``), streamed
with ``restic backup --stdin`` under one fixed name per backend (:data:`SNAPSHOT_FILES`), with the
backup's own time (``--time``) and tags ``stage=``, ``backend=``, ``kind=`` and one ``tier=`` per
local tier. Retention mirrors the local one: after each push ``forget --prune`` keeps, among the
snapshots of that kind and backend of this host, the local tiers' counts (7 daily, 4 weekly, 12
monthly; the newest N of the other kinds), counted in UTC like the local names.

Who runs restic: the CLI, as the bot's user. cron starts ``guildbot-cli --user guildbot backup``
as root so it can read the root-only credentials (the offsite password, the SSH key or the S3
keys); the CLI drops to the bot's user before it touches anything, and restic reads the secrets
from files in a private (0700) temporary directory that lives for one restic call. So root never
reads or writes a path the bot's user can change, the secrets are in no environment and no argv,
and the backup files are pushed by the user who wrote them.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from bot import statefiles
from bot.config import ConfigError, OffsiteSettings, Settings
from bot.storage.backups import KEEP_NEWEST, SCHEDULED, TIERS, BackupError, tiers_for

STATUS_FILE = "offsite-status.json"
SNAPSHOT_FILES = {"sqlite": "guildbot.db", "postgres": "guildbot.pgdump"}
# The weekly check reads this share of the repository's data packs (restic --read-data-subset).
CHECK_SUBSET = "10%"
RESTIC = "restic"


class OffsiteError(BackupError):
    """restic failed; the message is its last lines of error output (they carry no secret)."""


@dataclass(frozen=True)
class Repository:
    """Where off-host backups go, how to reach them, and whose snapshots are ours."""

    settings: OffsiteSettings
    stage: str
    backend: str
    cache_dir: Path | None = None

    @property
    def url(self) -> str:
        return self.settings.repository

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def snapshot_file(self) -> str:
        return SNAPSHOT_FILES[self.backend]


def repository(settings: Settings) -> Repository | None:
    """The configured repository (None when off-host backups are off). restic's cache is in
    the state directory, the bot's user's. The password is required here, not by the settings:
    the bot's own process (which only shows the status) never gets it."""
    if settings.offsite is None:
        return None
    if settings.offsite.password is None:
        raise ConfigError("GUILDBOT_OFFSITE_PASSWORD_FILE", "an off-host repository needs its "
                          "password", "put it in $CREDENTIALS_DIRECTORY/offsite_password or the "
                          "file named by GUILDBOT_OFFSITE_PASSWORD_FILE")
    return Repository(settings.offsite, settings.stage, settings.backend,
                      settings.state_dir / "restic-cache")


def sftp_target(url: str) -> tuple[str, int | None]:
    """``USER@HOST`` and the port of an sftp repository URL (restic's two forms)."""
    problem = ConfigError("GUILDBOT_OFFSITE_REPOSITORY", "the sftp repository names no host "
                          "and path", "give sftp:USER@HOST:/PATH or sftp://USER@HOST:PORT//PATH")
    if url.startswith("sftp://"):
        parts = urllib.parse.urlsplit(url)
        if not parts.hostname or not parts.path.strip("/"):
            raise problem
        user = f"{parts.username}@" if parts.username else ""
        return user + parts.hostname, parts.port
    target, colon, path = url.removeprefix("sftp:").partition(":")
    if not colon or not target or not path:
        raise problem
    return target, None


def _write_private(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    return path


@contextlib.contextmanager
def _restic(repo: Repository) -> Iterator[tuple[list[str], dict[str, str]]]:
    """restic's leading arguments and environment for one call: the secrets in 0600 files of a
    private temporary directory (removed afterwards), never in argv or the environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC",
           "HOME": os.environ.get("HOME", "/")}
    conf = repo.settings
    with tempfile.TemporaryDirectory(prefix="guildbot-restic-") as private:
        directory = Path(private)
        assert conf.password is not None  # repository() requires it
        password = _write_private(directory, "password", conf.password.reveal())
        args = [RESTIC, "--repo", repo.url, "--quiet", "--password-file", str(password)]
        args += ["--cache-dir", str(repo.cache_dir)] if repo.cache_dir else ["--no-cache"]
        if repo.url.startswith("sftp:"):
            target, port = sftp_target(repo.url)
            ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
            if conf.known_hosts is not None:
                ssh += ["-o", f"UserKnownHostsFile={conf.known_hosts}"]
            if conf.ssh_key is not None:
                key = _write_private(directory, "ssh_key", conf.ssh_key.reveal())
                ssh += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
            if port:
                ssh += ["-p", str(port)]
            args += ["--option", "sftp.command=" + " ".join([*ssh, target, "-s", "sftp"])]
        if conf.s3_access_key_id and conf.s3_secret_access_key:
            env["AWS_SHARED_CREDENTIALS_FILE"] = str(_write_private(
                directory, "aws_credentials",
                "[default]\naws_access_key_id = " + conf.s3_access_key_id.reveal()
                + "\naws_secret_access_key = " + conf.s3_secret_access_key.reveal()))
        yield args, env


def _run(repo: Repository, *args: str, stdin: BinaryIO | None = None,
         stdout: BinaryIO | None = None) -> str:
    """Run restic; its standard output (unless ``stdout`` takes it), or OffsiteError."""
    with _restic(repo) as (head, env):
        try:
            done = subprocess.run([*head, *args], stdin=stdin or subprocess.DEVNULL,
                                  stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, check=False)
        except OSError as exc:
            raise OffsiteError(f"cannot run restic: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").splitlines()
                 if line.strip()]
        # The last lines: restic's own, after what ssh said (e.g. a host key mismatch).
        why = "; ".join(lines[-3:]) if lines else f"exit status {done.returncode}"
        raise OffsiteError(f"restic {args[0]} failed: {why}")
    return "" if stdout else done.stdout.decode(errors="replace")


def initialise(repo: Repository) -> bool:
    """Create the repository unless it exists (idempotent); True when it was created."""
    try:
        _run(repo, "cat", "config")
        return False
    except OffsiteError:
        pass
    _run(repo, "init")
    return True


def _tags(repo: Repository, kind: str) -> list[str]:
    return [f"stage={repo.stage}", f"backend={repo.backend}", f"kind={kind}",
            *(f"tier={tier}" for tier in tiers_for(kind))]


def push(repo: Repository, verified: Path, kind: str, taken: datetime) -> dict[str, Any]:
    """Push the verified file as a snapshot of ``kind`` taken at ``taken``, then apply the
    kind's retention. Returns the snapshot id, its time and what the push added."""
    started = time.monotonic()
    summary = snapshot(repo, verified, kind, taken)
    forgotten = forget(repo, kind)
    return {"snapshot": summary.get("snapshot_id"), "time": taken.timestamp(), "kind": kind,
            "bytes_added": summary.get("data_added"), "forgotten": forgotten,
            "seconds": round(time.monotonic() - started, 3)}


def snapshot(repo: Repository, verified: Path, kind: str, taken: datetime) -> dict[str, Any]:
    """``restic backup --stdin`` of the file under this backend's snapshot name: restic's
    summary (snapshot_id, data_added, ...)."""
    tags = [arg for tag in _tags(repo, kind) for arg in ("--tag", tag)]
    with open(verified, "rb") as source:
        out = _run(repo, "backup", "--json", "--stdin", "--stdin-filename", repo.snapshot_file,
                   "--host", repo.host, "--time", taken.strftime("%Y-%m-%d %H:%M:%S"), *tags,
                   stdin=source)
    return next((m for m in map(_json_line, out.splitlines())
                 if m.get("message_type") == "summary"), {})


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def forget(repo: Repository, kind: str) -> int:
    """``forget --prune`` with the local retention of ``kind``: the number of snapshots
    removed."""
    if kind == SCHEDULED:
        keep = ["--keep-daily", str(TIERS["daily"][0]), "--keep-weekly", str(TIERS["weekly"][0]),
                "--keep-monthly", str(TIERS["monthly"][0])]
    else:
        keep = ["--keep-last", str(KEEP_NEWEST[kind])]
    out = _run(repo, "forget", "--json", "--prune", "--host", repo.host, "--group-by", "host",
               "--tag", f"backend={repo.backend},kind={kind}", *keep)
    groups: list[dict[str, Any]] = next(
        (json.loads(line) for line in out.splitlines() if line.startswith("[")), [])
    return sum(len(group.get("remove") or []) for group in groups)


def snapshots(repo: Repository) -> list[dict[str, Any]]:
    """This host's snapshots of this backend, oldest first."""
    out = _run(repo, "snapshots", "--json", "--host", repo.host, "--tag",
               f"backend={repo.backend}")
    found = json.loads(out or "[]")
    return sorted(found, key=lambda s: s["time"])


def check(repo: Repository, subset: str = CHECK_SUBSET) -> dict[str, Any]:
    """``restic check`` of the structure and of ``subset`` of the data."""
    started = time.monotonic()
    _run(repo, "check", f"--read-data-subset={subset}")
    return {"checked": repo.url, "read_data_subset": subset,
            "seconds": round(time.monotonic() - started, 3)}


def fetch_newest(repo: Repository, directory: Path) -> tuple[Path, dict[str, Any]]:
    """Write this host's newest snapshot's file into ``directory``; its path and snapshot."""
    found = snapshots(repo)
    if not found:
        raise OffsiteError(f"no off-host snapshot of host {repo.host} ({repo.backend}) in "
                           "the repository")
    newest = found[-1]
    target = directory / repo.snapshot_file
    with open(target, "wb") as out:
        _run(repo, "dump", newest["id"], "/" + repo.snapshot_file, stdout=out)
    return target, newest


# -- status (for /metrics, /slo, the dashboard and the alerts) --------------------------------
def write_status(state_dir: Path, *, pushed: dict[str, Any] | None, error: str | None,
                 now: float | None = None) -> dict[str, Any]:
    """Record a push's outcome atomically; counts successes and failures."""
    now = time.time() if now is None else now
    path = state_dir / STATUS_FILE
    status = read_status(state_dir)
    if pushed is not None:
        status.update(last_success=now, newest_time=pushed["time"], snapshot=pushed["snapshot"],
                      kind=pushed["kind"], seconds=pushed["seconds"], last_error=None,
                      successes=int(status.get("successes", 0)) + 1)
    else:
        status.update(last_failure=now, last_error=error,
                      failures=int(status.get("failures", 0)) + 1)
    statefiles.write(path, status)
    return status


def read_status(state_dir: Path) -> dict[str, Any]:
    return statefiles.read(state_dir / STATUS_FILE, "off-host status file")


def summary(state_dir: Path, now: float) -> dict[str, Any]:
    """What monitoring shows: the newest off-host backup's age (None: none pushed yet), the
    push counts and the last error."""
    status = read_status(state_dir)
    newest = status.get("newest_time")
    return {"age_seconds": round(now - float(newest), 1) if newest else None,
            "successes": int(status.get("successes", 0)),
            "failures": int(status.get("failures", 0)),
            "last_error": status.get("last_error"),
            "snapshot": status.get("snapshot")}
