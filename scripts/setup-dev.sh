#!/usr/bin/env bash
# Install what the tests and the local stage need on a Debian 12 machine, idempotently:
# Debian packages (Python venv, SQLite CLI, PostgreSQL 15 for the second backend's tests, Chromium
# for the dashboard test, Prometheus's promtool and Alertmanager's amtool for the alert rule and
# Alertmanager config tests), then the project's virtualenv with the pinned dev requirements. Podman
# and the test image are prepared by scripts/prepare-podman.sh and scripts/build-test-image.sh when
# a Molecule step needs them.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${GUILDBOT_VENV:-$repo_root/.venv}"
say() { printf 'setup: %s\n' "$*"; }

packages=(python3 python3-venv python3-dev gcc sqlite3 postgresql chromium tzdata git curl
          prometheus prometheus-alertmanager restic)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        say "missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "Debian packages present"
fi

python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
wanted="$(cat "$repo_root/requirements.txt" "$repo_root/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    say "virtualenv $venv is up to date"
else
    say "creating the virtualenv $venv and installing requirements-dev.txt"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo_root/requirements-dev.txt"
    echo "$wanted" > "$stamp"
fi
