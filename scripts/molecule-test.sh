#!/usr/bin/env bash
# One entry point for the provisioning tests:
#   scripts/molecule-test.sh [SCENARIO] [MOLECULE_COMMAND]
# SCENARIO: default (systemd) | supervisor | rollout | cluster | ... | all (default, then supervisor;
# default: default); MOLECULE_COMMAND: test (default), converge, verify, destroy, ... Prepares the
# host (podman, cgroup fix; idempotent), builds or reuses the Debian 12 systemd image
# (GUILDBOT_TEST_IMAGE=other/image to use another), then runs molecule.
#
# Locking (machine-wide, under /run/lock -- GUILDBOT_MOLECULE_LOCK_DIR for this script's own tests --
# because runs from other clones share podman):
#   - guildbot-molecule-SCENARIO.lock, exclusive: the same scenario never runs twice at once (its
#     containers have fixed names, its Molecule state one directory);
#   - guildbot-molecule.lock, SHARED for a scenario run: different scenarios run at once (the
#     test suite runs them in lanes, GUILDBOT_MOLECULE_LANES). Older copies of this script (other
#     worktrees, other clones) take that same file EXCLUSIVE for their whole run, so an old-style
#     run still waits for every new-style run and every new-style run waits for it;
#   - guildbot-molecule-prepare.lock, exclusive, only around the host preparation and the image
#     build, so two lanes never install packages or debootstrap the image at once.
# Locks are always taken in that order (scenario, machine, prepare), so no two runs deadlock.
# GUILDBOT_MOLECULE_TIMEOUT=SECONDS (the test suite sets it) stops molecule after that long: the
# run itself, not the time spent waiting for other runs (a queue of them can last an hour).
# A scenario run at the same time as another must not collide with it: see molecule/README.md.
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

lock_dir="${GUILDBOT_MOLECULE_LOCK_DIR:-/run/lock}"
mkdir -p "$lock_dir"

limit=()
if [ -n "${GUILDBOT_MOLECULE_TIMEOUT:-}" ]; then
    [[ "$GUILDBOT_MOLECULE_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || {
        echo "molecule-test: GUILDBOT_MOLECULE_TIMEOUT=$GUILDBOT_MOLECULE_TIMEOUT: give whole seconds" >&2; exit 2; }
    limit=(timeout --kill-after=60 "$GUILDBOT_MOLECULE_TIMEOUT")
fi

# wait_for_lock MODE FD: flock (MODE -x or -s) the file open on FD, saying so if we must wait;
# adds the time waited to $waited.
wait_for_lock() {
    if ! flock -n "$1" "$2"; then
        echo "molecule-test: another Molecule run on this machine holds $(readlink "/proc/$$/fd/$2"); waiting for it"
        local since=$SECONDS
        flock "$1" "$2"
        waited=$((waited + SECONDS - since))
    fi
}

export ANSIBLE_CONFIG="$repo_root/ansible.cfg"
export MOLECULE_NO_LOG="${MOLECULE_NO_LOG:-false}"

run() {
    local name="$1" start=$SECONDS rc=0
    waited=0
    [ -f "molecule/$name/molecule.yml" ] || { echo "molecule-test: no scenario molecule/$name" >&2; exit 2; }
    exec 7>"$lock_dir/guildbot-molecule-$name.lock"
    wait_for_lock -x 7
    exec 8>"$lock_dir/guildbot-molecule.lock"
    wait_for_lock -s 8

    exec 9>"$lock_dir/guildbot-molecule-prepare.lock"
    wait_for_lock -x 9
    echo "molecule-test: preparing the host for podman"
    scripts/prepare-podman.sh 7>&- 8>&- 9>&-
    echo "molecule-test: building or reusing the test image"
    GUILDBOT_TEST_IMAGE="$(scripts/build-test-image.sh 7>&- 8>&- 9>&- | tail -n1)"
    export GUILDBOT_TEST_IMAGE
    echo "molecule-test: image ${GUILDBOT_TEST_IMAGE}"
    exec 9>&-

    # Test one consistent snapshot of the code even if files change during the run (the
    # idempotence step would otherwise see a new release): bot/, requirements.txt and the fake
    # Discord, in a directory of the scenario's own (another scenario may be running beside it).
    local snapshot="$repo_root/build/molecule-source/$name"
    echo "molecule-test: snapshotting bot/, requirements.txt and tests/fake_discord into ${snapshot#"$repo_root"/}"
    rm -rf "$snapshot"
    mkdir -p "$snapshot"
    tar -c --exclude=__pycache__ bot requirements.txt tests/__init__.py tests/fake_discord | tar -x -C "$snapshot"
    export GUILDBOT_RELEASE_SOURCE_DIR="$snapshot"

    echo "molecule-test: molecule ${command} -s $name"
    "${limit[@]}" molecule "$command" -s "$name" 7>&- 8>&- || rc=$?  # containers must not inherit the locks
    if [ "$rc" -eq 124 ]; then
        echo "molecule-test: scenario $name (${command}) stopped after GUILDBOT_MOLECULE_TIMEOUT=${GUILDBOT_MOLECULE_TIMEOUT}s" >&2
    fi
    [ "$rc" -eq 0 ] || exit "$rc"
    echo "molecule-test: scenario $name (${command}) passed in $((SECONDS - start - waited))s (and ${waited}s waiting for other runs)"
    exec 7>&- 8>&-
}

if [ "$scenario" = all ]; then
    run default
    run supervisor
else
    run "$scenario"
fi
