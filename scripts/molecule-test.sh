#!/usr/bin/env bash
# One entry point for the provisioning tests:
#   scripts/molecule-test.sh [SCENARIO] [MOLECULE_COMMAND]
# SCENARIO: default (systemd) | supervisor | all (default: default); MOLECULE_COMMAND: test (default),
# converge, verify, destroy, ... Prepares the host (podman, cgroup fix; idempotent), builds or reuses
# the Debian 12 systemd image (GUILDBOT_TEST_IMAGE=other/image to use another), then runs molecule.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
scenario="${1:-default}"
command="${2:-test}"

venv="${GUILDBOT_VENV:-$repo_root/.venv}"
if [ -x "$venv/bin/molecule" ]; then
    export PATH="$venv/bin:$PATH"
fi
command -v molecule >/dev/null || { echo "molecule-test: molecule not found (pip install -r requirements-dev.txt)" >&2; exit 1; }

# Scenarios use fixed container names and Molecule state: two runs at once (a developer and the
# test suite) would destroy each other's containers, so runs on one machine take turns -- also
# runs from different clones, hence a machine-wide lock rather than one under build/.
lock="${GUILDBOT_MOLECULE_LOCK:-/run/lock/guildbot-molecule.lock}"
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
if ! flock -n 9; then
    echo "molecule-test: another Molecule run on this machine holds $lock; waiting for it"
    flock 9
fi

echo "molecule-test: preparing the host for podman"
scripts/prepare-podman.sh
echo "molecule-test: building or reusing the test image"
GUILDBOT_TEST_IMAGE="$(scripts/build-test-image.sh | tail -n1)"
export GUILDBOT_TEST_IMAGE
echo "molecule-test: image ${GUILDBOT_TEST_IMAGE}"

# Test one consistent snapshot of the code even if files change during the run (the idempotence
# step would otherwise see a new release): bot/, requirements.txt and the fake Discord.
snapshot="$repo_root/build/molecule-source"
echo "molecule-test: snapshotting bot/, requirements.txt and tests/fake_discord into ${snapshot#"$repo_root"/}"
rm -rf "$snapshot"
mkdir -p "$snapshot"
tar -c --exclude=__pycache__ bot requirements.txt tests/__init__.py tests/fake_discord | tar -x -C "$snapshot"
export GUILDBOT_RELEASE_SOURCE_DIR="$snapshot"

export ANSIBLE_CONFIG="$repo_root/ansible.cfg"
export MOLECULE_NO_LOG="${MOLECULE_NO_LOG:-false}"

run() {
    local start=$SECONDS
    echo "molecule-test: molecule ${command} -s $1"
    molecule "$command" -s "$1" 9>&-  # containers must not inherit the lock
    echo "molecule-test: scenario $1 (${command}) passed in $((SECONDS - start))s"
}

if [ "$scenario" = all ]; then
    run default
    run supervisor
else
    run "$scenario"
fi
