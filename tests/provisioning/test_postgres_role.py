"""The guildbot_postgres role's files, rendered here from an inventory of bot hosts: pg_hba.conf
admits the bot's role from the bot hosts alone with scram-sha-256, the server settings follow the
host's size, the password is required and never shown. A Molecule scenario for the role (a real
server in a container) is not part of this round."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from tests.provisioning.test_provisioning import ROOT, WIRING, run, tool

ROLE = ROOT / "roles/guildbot_postgres"
PASSWORD = "pg-Secret-5f1c0e-long"  # noqa: S105 (a test value that must never be printed)


def render(base: Path, password: str = PASSWORD, **db_vars: object):
    inventory = {"all": {"children": {
        "guildbot": {"hosts": {"bot-a": {"ansible_host": "10.0.0.1", "guildbot_processes": 2},
                               "bot-b": {"guildbot_database_client_address": "10.0.0.2",
                                         "guildbot_processes": 2}}},
        "guildbot_postgres": {"hosts": {"db": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "guildbot_database_password": password}}}}}}
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
    tasks = [{"name": "Check the inputs",
              "ansible.builtin.import_tasks": f"{ROLE}/tasks/assert.yml"}]
    tasks += [{"name": f"Render {name}", "ansible.builtin.template": {
        "src": f"{ROLE}/templates/{name}.j2", "dest": f"{base}/{name}", "mode": "0644"}}
        for name in ("pg_hba.conf", "guildbot.conf")]
    (base / "play.yml").write_text(yaml.safe_dump([{
        "name": "Render", "hosts": "db", "gather_facts": True,
        "vars_files": [f"{ROLE}/defaults/main.yml", str(WIRING), f"{ROLE}/vars/main.yml"],
        "tasks": tasks}]))
    # The role's defaults come in as vars_files here, so overrides go in as extra vars.
    return run(tool("ansible-playbook"), str(base / "play.yml"), "-i", str(base / "inventory.yml"),
               "-e", json.dumps(db_vars))


def rules(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_pg_hba_admits_the_bots_role_from_the_bot_hosts_alone_with_scram(tmp_path):
    result = render(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert rules(tmp_path / "pg_hba.conf") == [
        ["local", "all", "postgres", "peer"],
        ["host", "all", "guildbot", "10.0.0.1/32", "scram-sha-256"],
        ["host", "all", "guildbot", "10.0.0.2/32", "scram-sha-256"],
    ]
    assert PASSWORD not in result.stdout + result.stderr


def test_memory_and_connections_follow_the_host_and_the_processes(tmp_path):
    assert render(tmp_path, guildbot_postgres_memory_mb=8192,
                  guildbot_postgres_pool_size=40).returncode == 0
    settings = dict(line.split(" = ", 1) for line in (tmp_path / "guildbot.conf").read_text()
                    .splitlines() if " = " in line and not line.startswith("#"))
    assert settings["password_encryption"] == "'scram-sha-256'"
    assert settings["max_connections"] == "180"  # 4 processes x 40 + 20
    assert settings["shared_buffers"] == "'2048MB'"
    assert settings["effective_cache_size"] == "'6144MB'"
    assert settings["maintenance_work_mem"] == "'512MB'"
    assert settings["work_mem"] == "'11MB'"  # 2048 MiB / 180 connections


def test_a_missing_or_short_password_is_refused_without_showing_it(tmp_path):
    result = render(tmp_path, password="short-secret")
    assert result.returncode != 0
    assert "the bot's database password must be set, at least 16 characters" in result.stdout
    assert "short-secret" not in result.stdout + result.stderr
