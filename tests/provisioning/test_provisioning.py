"""Static checks of the provisioning code: syntax per inventory, linters, unit hardening, sources.

The behaviour on a real host is tested by the Molecule scenarios (scripts/molecule-test.sh); these
run in seconds without containers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = ("local", "beta", "expanded", "public")
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


WIRING = ROOT / "inventories/role-wiring.yml"


def link_role_wiring(base: Path) -> None:
    """Give the inventory written under base the role wiring every inventory links (group_vars/all/
    00-role-wiring.yml): the roles' defaults are literal, the wiring binds them to the project-wide
    values the test sets (guildbot_processes, guildbot_host_*, guildbot_database_url, ...)."""
    link = base / "group_vars/all/00-role-wiring.yml"
    if not link.is_symlink():  # a test may write its inventory more than once
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(WIRING)


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "PY_COLORS": "0",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


@pytest.mark.parametrize("stage", STAGES)
def test_playbook_syntax_per_inventory(stage: str) -> None:
    result = run(
        tool("ansible-playbook"), "playbook.yml", "-i", f"inventories/{stage}", "--syntax-check"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_clean() -> None:
    result = run(tool("yamllint"), "--strict", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile() -> None:
    result = run(tool("ansible-lint"), "--profile", "production", "--offline")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_unit_file_exposure_at_most_1_5() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = run(
        "systemd-analyze", "security", "--offline=yes", "--no-pager", "systemd/guildbot.service"
    )
    match = re.search(r"Overall exposure level for guildbot.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 1.5, result.stdout


def test_unit_file_keeps_the_required_directives() -> None:
    unit = (ROOT / "systemd/guildbot.service").read_text()
    directives = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in unit.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert directives["Type"] == "notify"
    assert directives["NotifyAccess"] == "main"
    assert directives["Restart"] == "on-failure"
    assert int(directives["RestartSec"].rstrip("s")) >= 10
    assert directives["RestartPreventExitStatus"] == "78"
    assert int(directives["StartLimitBurst"]) <= 10
    assert directives["ExecStart"] == "/opt/guildbot/current/venv/bin/python -m bot run"
    assert directives["User"] == "guildbot"
    assert directives["EnvironmentFile"] == "/etc/guildbot/guildbot.env"
    assert directives["LoadCredential"] == ("discord_token:/etc/guildbot/credentials/discord_token")
    assert "Environment" not in directives, (
        "secrets and settings go through files, not Environment="
    )


def test_roles_ship_the_repository_files_unchanged() -> None:
    """One source of truth: the roles link to systemd/ and logrotate/, they hold no copies."""
    unit = ROOT / "roles/guildbot_service/files/guildbot.service"
    rotate = ROOT / "roles/guildbot_logrotate/templates/guildbot.j2"
    assert unit.is_symlink() and unit.resolve() == ROOT / "systemd/guildbot.service"
    assert rotate.is_symlink() and rotate.resolve() == ROOT / "logrotate/guildbot.j2"


def test_logrotate_example_matches_the_template_with_defaults(tmp_path: Path) -> None:
    out = tmp_path / "guildbot"
    result = run(
        tool("ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-m",
        "ansible.builtin.template",
        "-a",
        f"src={ROOT}/logrotate/guildbot.j2 dest={out}",
        "-e",
        f"@{ROOT}/roles/guildbot_logrotate/defaults/main.yml",
    )
    assert result.returncode == 0, result.stdout + result.stderr

    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]

    assert body(out.read_text()) == body((ROOT / "logrotate/guildbot").read_text())
    rendered = out.read_text()
    assert "copytruncate" not in body(rendered).__str__()
    for directive in (
        "compress",
        "delaycompress",
        "missingok",
        "notifempty",
        "create 0640 guildbot guildbot",
        "su guildbot guildbot",
    ):
        assert any(line.strip() == directive for line in body(rendered)), directive


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_an_encrypted_vault_that_the_plain_vars_reference(stage: str) -> None:
    group_vars = ROOT / "inventories" / stage / "group_vars/all"
    vault = (group_vars / "vault.yml").read_text()
    assert vault.startswith(f"$ANSIBLE_VAULT;1.2;AES256;{stage}\n")
    plain = (group_vars / "main.yml").read_text()
    assert 'guildbot_discord_token: "{{ vault_guildbot_discord_token }}"' in plain
    assert 'guildbot_alert_webhook_url: "{{ vault_guildbot_alert_webhook_url }}"' in plain


def test_only_the_local_vault_password_is_committed() -> None:
    assert (ROOT / "inventories/local/.vault-pass").is_file()
    assert "THROWAWAY" in (ROOT / "inventories/local/README.md").read_text()
    for stage in ("beta", "expanded", "public"):
        assert not list((ROOT / "inventories" / stage).rglob("*vault-pass*"))


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role: str) -> None:
    base = ROOT / "roles" / role
    for part in (
        "defaults/main.yml",
        "meta/argument_specs.yml",
        "meta/main.yml",
        "tasks/main.yml",
        "tasks/assert.yml",
        "handlers/main.yml",
    ):
        assert (base / part).is_file(), f"{role} lacks {part}"
    assert any((base / "templates").iterdir()), f"{role} has no templates"
    for template in (base / "templates").iterdir():
        assert "{{ ansible_managed | comment" in template.read_text(), template
    defaults = (base / "defaults/main.yml").read_text()
    names = re.findall(r"^([a-z_][a-z0-9_]*):", defaults, re.M)
    assert names and all(n.startswith(role + "_") for n in names), names


def test_roles_readme_is_generated_from_the_argument_specs() -> None:
    result = run(sys.executable, "scripts/role-docs.py", "--check")
    assert result.returncode == 0, result.stderr
