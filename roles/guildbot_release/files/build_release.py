#!/usr/bin/env python3
"""Build a guildbot release on the controller, once per content: bot code + wheelhouse + REVISION.

The release id is derived from the content (bot/ and requirements.txt), so building the same tree
twice gives the same id and the same tarball, and Ansible stays idempotent. The wheelhouse is cached
under BUILD_DIR/wheelhouse/<key>/, keyed by the requirements file and this Python's version and
platform (wheels with compiled parts only fit a host with the same Python minor version).

Builds into one BUILD_DIR take turns (a lock file in it): the Molecule scenarios run in parallel
lanes and build the same release at once; the second then reuses the first's wheelhouse and tarball
instead of failing to rename its wheelhouse over it or replacing the tarball another run deploys.

Prints one JSON object: id, tarball, python (major.minor), built (bool), revision.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
KEEP_TARBALLS = 10  # release tarballs kept in the controller's build dir


def prune_tarballs(directory: Path, keep: int, current: Path) -> None:
    """Drop the oldest release tarballs so the controller's cache does not grow without end."""
    tarballs = sorted(directory.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [t for t in tarballs if t != current][keep - 1 :]:
        old.unlink(missing_ok=True)


def source_files(source: Path) -> list[Path]:
    """Files that make up a release, relative to SOURCE, in a stable order."""
    files = [Path("requirements.txt")]
    for root, dirs, names in os.walk(source / "bot"):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        for name in sorted(names):
            if Path(name).suffix not in EXCLUDED_SUFFIXES:
                files.append((Path(root) / name).relative_to(source))
    return files


def content_hash(source: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for rel in files:
        digest.update(str(rel).encode() + b"\0")
        digest.update((source / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def bot_version(source: Path) -> str:
    init = source / "bot" / "__init__.py"
    match = (
        re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", init.read_text(), re.M)
        if init.exists()
        else None
    )
    return re.sub(r"[^A-Za-z0-9.]+", ".", match.group(1)) if match else "0"


def git_revision(source: Path) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--", "bot", "requirements.txt"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def wheelhouse(source: Path, build: Path, pip_args: list[str]) -> Path:
    requirements = (source / "requirements.txt").read_bytes()
    key = hashlib.sha256(
        requirements + f"{sys.implementation.cache_tag} {platform.machine()}".encode()
    ).hexdigest()[:16]
    target = build / "wheelhouse" / key
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{key}.partial.", dir=target.parent))
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--wheel-dir",
                str(partial),
                "-r",
                str(source / "requirements.txt"),
                *pip_args,
            ],
            check=True,
            stdout=sys.stderr,
        )
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def build_tarball(
    source: Path,
    build: Path,
    tarball: Path,
    files: list[Path],
    release_id: str,
    digest: str,
    pip_args: list[str],
) -> None:
    """Write the release tarball (atomically) and prune the oldest ones."""
    wheels = wheelhouse(source, build, pip_args)
    revision = (
        f"id={release_id}\ncontent_sha256={digest}\ngit={git_revision(source)}\n"
        f"python={sys.version_info.major}.{sys.version_info.minor}\n"
        f"built_at={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
    )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f"{release_id}.", suffix=".partial", dir=tarball.parent)
    os.close(fd)
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for rel in files:
                tar.add(source / rel, arcname=str(rel), recursive=False)
            for wheel in sorted(wheels.iterdir()):
                tar.add(wheel, arcname=f"wheelhouse/{wheel.name}")
            data = revision.encode()
            info = tarfile.TarInfo("REVISION")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        os.replace(partial, tarball)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    prune_tarballs(tarball.parent, keep=KEEP_TARBALLS, current=tarball)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--source", type=Path, required=True, help="project root holding bot/ and requirements.txt"
    )
    parser.add_argument("--build-dir", type=Path, required=True, help="cache and output directory")
    parser.add_argument(
        "--release-id", default="", help="use this id instead of the content-derived one"
    )
    parser.add_argument(
        "--pip-arg", action="append", default=[], help="extra argument for pip wheel"
    )
    args = parser.parse_args()

    source, build = args.source.resolve(), args.build_dir.resolve()
    if not (source / "bot").is_dir() or not (source / "requirements.txt").is_file():
        print(
            f"build_release: {source} has no bot/ package or requirements.txt; "
            "point guildbot_release_source_dir at the project root",
            file=sys.stderr,
        )
        return 2
    files = source_files(source)
    digest = content_hash(source, files)
    release_id = args.release_id or f"{bot_version(source)}-{digest[:12]}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", release_id):
        print(
            f"build_release: bad release id {release_id!r} (letters, digits, . _ - only)",
            file=sys.stderr,
        )
        return 2

    tarball = build / "releases" / f"{release_id}.tar.gz"
    built = False
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not tarball.is_file():
            build_tarball(source, build, tarball, files, release_id, digest, args.pip_arg)
            built = True

    print(
        json.dumps(
            {
                "id": release_id,
                "tarball": str(tarball),
                "built": built,
                "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
