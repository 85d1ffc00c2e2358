"""Several processes per host (issue 12): guildbot_config writes each process's settings from the
shard plan, the template unit keeps guildbot.service's hardening, the operator wrapper reads one
process's settings. Rendered and run here, as the current user, under a scratch directory; the
units on a real host are the Molecule scenarios' business (scripts/molecule-test.sh)."""

from __future__ import annotations

import getpass
import grp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.provisioning.test_provisioning import ROOT, link_role_wiring, run, tool

PASSWORD = "pg-Secret-5f1c0e"  # noqa: S105 (a test value that must never be printed)
URL = "postgresql://guildbot@db.example.internal:5432/guildbot"


def converge(base: Path, processes: int = 2, *, host_vars: dict | None = None,
             groups: dict | None = None, **extra: object) -> subprocess.CompletedProcess[str]:
    """guildbot_config on bot-a of a two-host cluster (4 shards, `processes` per host), its paths
    under base; ``host_vars`` are added to both bot hosts, ``groups`` to the inventory."""
    group = grp.getgrgid(os.getgid()).gr_name
    inventory = {"all": {
        "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "guildbot_shard_count": 4, "guildbot_database_url": URL,
            "guildbot_discord_token": "fake-token", "guildbot_database_password": PASSWORD,
            "guildbot_service_process_manager": "supervisor",
            "guildbot_host_user": getpass.getuser(), "guildbot_host_group": group,
            "guildbot_host_config_dir": f"{base}/etc",
            "guildbot_host_credentials_dir": f"{base}/etc/credentials",
            "guildbot_host_state_dir": f"{base}/lib", "guildbot_host_log_dir": f"{base}/log",
            "guildbot_host_backup_dir": f"{base}/backups", **extra},
        "children": {"guildbot": {"hosts": {
            name: {"guildbot_processes": processes, **(host_vars or {}).get(name, {})}
            for name in ("bot-a", "bot-b")}}, **(groups or {})}}}
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
    link_role_wiring(base)
    (base / "etc").mkdir(exist_ok=True)
    (base / "play.yml").write_text(yaml.safe_dump([{
        "name": "Configure", "hosts": "bot-a", "gather_facts": False,
        "roles": ["guildbot_config"],
        "handlers": [{"name": "Restart", "listen": "guildbot restart",
                      "ansible.builtin.debug": {"msg": "restart"}}]}]))
    return run(tool("ansible-playbook"), str(base / "play.yml"), "-i",
               str(base / "inventory.yml"), "--diff")


def env(path: Path) -> dict[str, str]:
    return dict(re.findall(r'^([A-Z_]+)="(.*)"$', path.read_text(), re.M))


def test_each_process_gets_its_shards_port_state_and_log(tmp_path: Path) -> None:
    result = converge(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    host = env(tmp_path / "etc/guildbot.env")
    assert host["GUILDBOT_DATABASE"] == URL
    assert host["GUILDBOT_SHARD_COUNT"] == "4"
    assert "GUILDBOT_SHARD_IDS" not in host
    assert host["GUILDBOT_FLEET_HEALTH_PORTS"] == "8710,8711"  # `guildbot-cli health --all`
    for index, shards in ((0, "0"), (1, "1")):
        process = env(tmp_path / f"etc/guildbot@{index}.env")
        assert process == {
            "GUILDBOT_INSTANCE": str(index),  # the `process` label of its metrics
            "GUILDBOT_SHARD_IDS": shards,
            "GUILDBOT_HEALTH_PORT": str(8710 + index),
            "GUILDBOT_STATE_DIR": f"{tmp_path}/lib/guildbot@{index}",
            "GUILDBOT_LOG_FILE": f"{tmp_path}/log/guildbot@{index}.log",
        }
    assert not list((tmp_path / "lib").glob("guildbot@*")), "root makes nothing in the bot's dir"
    credential = tmp_path / "etc/credentials/database_password"
    assert credential.read_text() == PASSWORD
    assert oct(credential.stat().st_mode & 0o777) == "0o600"
    assert PASSWORD not in result.stdout + result.stderr


def test_one_process_again_keeps_its_shards_in_the_host_file_and_drops_the_others(tmp_path):
    assert converge(tmp_path).returncode == 0
    result = converge(tmp_path, processes=1)
    assert result.returncode == 0, result.stdout[-3000:]
    assert not list((tmp_path / "etc").glob("guildbot@*.env"))
    host = env(tmp_path / "etc/guildbot.env")
    assert (host["GUILDBOT_SHARD_COUNT"], host["GUILDBOT_SHARD_IDS"]) == ("4", "0-1")
    assert "GUILDBOT_HEALTH_PORT" in host and "GUILDBOT_STATE_DIR" in host
    assert "GUILDBOT_FLEET_HEALTH_PORTS" not in host  # one process: its own port is the host


def test_sqlite_has_no_password_and_postgres_needs_one(tmp_path: Path) -> None:
    result = converge(tmp_path, guildbot_database_password="")
    assert result.returncode != 0
    assert "a PostgreSQL database needs its password" in result.stdout
    (tmp_path / "etc").mkdir(exist_ok=True)
    result = converge(tmp_path, guildbot_database_url="", guildbot_shard_count=0,
                      processes=1, guildbot_cluster="{{ inventory_hostname }}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert env(tmp_path / "etc/guildbot.env")["GUILDBOT_DATABASE"] == f"{tmp_path}/lib/guildbot.db"
    assert not (tmp_path / "etc/credentials/database_password").exists()


def directives(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_template_unit_is_guildbot_service_but_for_the_instance() -> None:
    """One hardening for both units: guildbot@.service differs from guildbot.service only in the
    lines about the instance, so a change to one that forgets the other fails here."""
    single = directives(ROOT / "systemd/guildbot.service")
    several = directives(ROOT / "systemd/guildbot@.service")
    instance_only = {"PartOf=guildbot.target", "EnvironmentFile=/etc/guildbot/guildbot@%i.env"}
    assert [line for line in several if line not in instance_only] == [
        {"Description=guildbot Discord bot": "Description=guildbot Discord bot, process %i",
         "WantedBy=multi-user.target": "WantedBy=guildbot.target"}.get(line, line)
        for line in single]
    assert instance_only <= set(several)
    unit = ROOT / "roles/guildbot_service/files/guildbot@.service"
    assert unit.is_symlink() and unit.resolve() == ROOT / "systemd/guildbot@.service"


def test_the_template_unit_exposure_at_most_1_5(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    instance = tmp_path / "guildbot@0.service"
    shutil.copy(ROOT / "systemd/guildbot@.service", instance)
    result = run("systemd-analyze", "security", "--offline=yes", "--no-pager", str(instance))
    match = re.search(r"Overall exposure level for guildbot@0.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 1.5, result.stdout


def test_the_wrapper_reads_one_process_settings_and_the_database_password(tmp_path):
    release = tmp_path / "opt/current"
    (release / "venv/bin").mkdir(parents=True)
    (release / "venv/bin/python").write_text(
        "#!/bin/sh\nenv | grep -E '^GUILDBOT_(HEALTH_PORT|SHARD_IDS|DATABASE_PASSWORD_FILE)=' "
        "| sort\n")
    (release / "venv/bin/python").chmod(0o755)
    config = tmp_path / "etc"
    (config / "credentials").mkdir(parents=True)
    (config / "guildbot.env").write_text('GUILDBOT_HEALTH_PORT="8710"\n')
    (config / "guildbot@1.env").write_text('GUILDBOT_HEALTH_PORT="8711"\nGUILDBOT_SHARD_IDS="1"\n')
    (config / "credentials/database_password").write_text(PASSWORD)
    cli = tmp_path / "guildbot-cli"
    host_role = ROOT / "roles/guildbot_host"
    rendered = run(tool("ansible"), "localhost", "-i", "localhost,", "-c", "local",
                   "-e", f"ansible_python_interpreter={sys.executable}",
                   "-m", "ansible.builtin.template", "-a", f"src={host_role}/templates/"
                   f"guildbot-cli.j2 dest={cli} mode=0755",
                   "-e", f"@{host_role}/defaults/main.yml",
                   "-e", f"guildbot_host_install_dir={tmp_path}/opt",
                   "-e", f"guildbot_host_config_dir={config}",
                   "-e", f"guildbot_host_credentials_dir={config}/credentials")
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr

    def cli_env(instance: str | None) -> subprocess.CompletedProcess[str]:
        extra = {} if instance is None else {"GUILDBOT_INSTANCE": instance}
        return subprocess.run([str(cli)], capture_output=True, text=True, timeout=60,
                              env={"PATH": os.environ["PATH"], **extra})

    password_file = f"GUILDBOT_DATABASE_PASSWORD_FILE={config}/credentials/database_password"
    assert cli_env(None).stdout.splitlines() == [password_file, "GUILDBOT_HEALTH_PORT=8710"]
    assert cli_env("1").stdout.splitlines() == [
        password_file, "GUILDBOT_HEALTH_PORT=8711", "GUILDBOT_SHARD_IDS=1"]
    refused = cli_env("../x")
    assert refused.returncode == 78
    assert "GUILDBOT_INSTANCE must be a process number" in refused.stderr
