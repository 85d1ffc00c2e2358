#!/usr/bin/env bash
# Build the release artifact on this machine, exactly as the site playbook does on the controller:
# bot/ + requirements.txt + a wheelhouse (cached under build/wheelhouse/ by the requirements' hash
# and this Python's version) + REVISION, in build/releases/<id>.tar.gz. Prints one JSON line
# (id, tarball, python, built). Pass --release-id ID to pin the id (default: <version>-<sha12>).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${GUILDBOT_BUILD_PYTHON:-${GUILDBOT_VENV:-$repo_root/.venv}/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" "$repo_root/roles/guildbot_release/files/build_release.py" \
    --source "$repo_root" --build-dir "$repo_root/build" "$@"
