"""The wrappers root runs, rendered and run here: the cron wrapper (guildbot_cron's
guildbot-cron.j2) and the operator CLI wrapper (guildbot_host's guildbot-cli.j2).

They run as root on a host, so they must not write to, follow or trust a path the bot's user can
change (issue 13, item 3): each template is rendered with its paths under a scratch directory, then
run against directories an attacker could write. The same checks on a real host, as the bot's user
against cron's own command lines, are in molecule/default/verify.yml.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.provisioning.test_provisioning import ROOT, run, tool

ROLE = ROOT / "roles/guildbot_cron"
HOST_ROLE = ROOT / "roles/guildbot_host"
FAKE_CLI = """#!/bin/sh
echo "fake cli: $*"
touch "$(dirname "$0")/cli-ran"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wrapper with its log in BASE/log, its locks in BASE/locks and BASE/fake-cli as CLI."""
    base = tmp_path_factory.mktemp("cron")
    wrapper = base / "guildbot-cron"
    render(ROLE / "templates/guildbot-cron.j2", wrapper,
           f"@{ROLE}/defaults/main.yml", f"@{ROLE}/vars/main.yml",
           f"guildbot_cron_log_file={base}/log/cron.log", f"guildbot_cron_lock_dir={base}/locks",
           f"_guildbot_cron_cli={base}/fake-cli", f"guildbot_cron_user={getpass.getuser()}")
    return wrapper


def render(template: Path, dest: Path, *extra_vars: str) -> None:
    extra = [arg for value in extra_vars for arg in ("-e", value)]
    result = run(
        tool("ansible"), "localhost", "-i", "localhost,", "-c", "local",
        "-e", f"ansible_python_interpreter={sys.executable}",
        "-m", "ansible.builtin.template", "-a", f"src={template} dest={dest} mode=0755", *extra,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def host(rendered: Path) -> Path:
    """A fresh scratch host: the log directory exists (0750, the role makes it), no locks yet."""
    base = rendered.parent
    for name in ("log", "locks", "elsewhere", "cli-ran"):
        path = base / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    (base / "log").mkdir(mode=0o750)
    (base / "fake-cli").write_text(FAKE_CLI)
    (base / "fake-cli").chmod(0o755)
    return base


def cron(host: Path, job: str = "backup") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(host / "guildbot-cron"), job, "60", job], capture_output=True,
                          text=True, timeout=60, env={"PATH": os.environ["PATH"]})


def test_a_job_runs_the_cli_and_logs_with_its_lock_in_a_private_directory(host):
    """Regression (issue 13, item 3): the locks were in world-writable /run/lock, where the bot's
    user could plant or hold them; fails on the old code because it had no lock directory of its
    own (nothing appears in the configured one)."""
    result = cron(host)
    assert result.returncode == 0, result.stderr
    log = (host / "log/cron.log").read_text().splitlines()
    assert log[0].endswith("guildbot-cron backup: start")
    assert log[1] == f"fake cli: --user {getpass.getuser()} backup"
    assert log[2].endswith("guildbot-cron backup: exit 0 (ok)")
    locks = host / "locks"
    assert stat.S_IMODE(locks.stat().st_mode) == 0o700
    assert (locks / "backup.lock").is_file()
    assert stat.S_IMODE((host / "log/cron.log").stat().st_mode) == 0o640


def test_a_held_lock_skips_the_run(host):
    (host / "locks").mkdir(mode=0o700)
    with open(host / "locks/check-resources.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = cron(host, "check-resources")
    assert result.returncode == 75
    assert not (host / "cli-ran").exists()
    assert "skipped: the previous check-resources run still holds the lock" in \
        (host / "log/cron.log").read_text()


def plant_symlink(host: Path) -> Path:
    canary = host / "elsewhere"
    canary.write_text("root's file\n")
    (host / "log/cron.log").symlink_to(canary)
    return canary


@pytest.mark.parametrize("where", ["log", "locks"])
def test_a_directory_others_can_write_is_refused(host, where):
    """Regression (issue 13, item 3): root appended to cron.log in a directory the bot's user can
    write, following a symlink planted there to any file; fails on the old code because it wrote
    through the symlink (and took its lock in a world-writable directory)."""
    canary = plant_symlink(host)
    (host / where).mkdir(exist_ok=True)
    (host / where).chmod(0o777)
    result = cron(host)
    assert canary.read_text() == "root's file\n"
    assert result.returncode == 77
    assert f"refusing to run: {host / where} must be a directory only" in result.stderr
    assert not (host / "cli-ran").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a directory to another user")
def test_a_log_directory_of_another_user_is_refused(host):
    """Regression (issue 13, item 3), as on a host: the log directory belongs to the bot's user
    (0750), who replaced cron.log with a symlink to a root-owned file; fails on the old code
    because root appended its lines to that file."""
    canary = plant_symlink(host)
    os.lchown(host / "log/cron.log", 65534, 65534)
    os.chown(host / "log", 65534, 65534)
    result = cron(host)
    assert canary.read_text() == "root's file\n"
    assert result.returncode == 77
    assert not (host / "cli-ran").exists()


def test_a_symlinked_lock_directory_is_refused(host):
    (host / "elsewhere").mkdir(mode=0o700)
    (host / "locks").symlink_to(host / "elsewhere")
    result = cron(host)
    assert result.returncode == 77
    assert not list((host / "elsewhere").iterdir())


def test_the_cli_wrapper_imports_nothing_from_the_current_directory(tmp_path):
    """Regression (issue 13, item 3): guildbot-cli ran `python -m bot` as root from whatever
    directory it was started in, so a bot/ package planted in a directory the bot's user writes
    (say /var/lib/guildbot) ran as root; fails on the old code because the planted module runs."""
    release = tmp_path / "opt/current"
    (release / "venv/bin").mkdir(parents=True)
    (release / "venv/bin/python").symlink_to(sys.executable)
    config = tmp_path / "etc"
    config.mkdir()
    (config / "guildbot.env").write_text('GUILDBOT_STAGE="local"\n')
    cli = tmp_path / "guildbot-cli"
    render(HOST_ROLE / "templates/guildbot-cli.j2", cli, f"@{HOST_ROLE}/defaults/main.yml",
           f"guildbot_host_install_dir={tmp_path}/opt", f"guildbot_host_config_dir={config}",
           f"guildbot_host_credentials_dir={config}/credentials")
    planted = tmp_path / "state"
    (planted / "bot").mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (planted / "bot/__init__.py").write_text("")
    (planted / "bot/__main__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    result = subprocess.run([str(cli), "--version"], cwd=planted, capture_output=True,
                            text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(planted)})
    assert not marker.exists()
    assert "No module named bot" in result.stderr
