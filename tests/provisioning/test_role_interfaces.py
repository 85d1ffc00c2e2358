"""Ansible roles with public interfaces (issue 15, Ansible part).

- Plays, Molecule scenarios and other roles read only a role's public names (`guildbot_<role>_*`,
  documented in its meta/argument_specs.yml and roles/README.md), never its `_guildbot_<role>_*`.
- Every `tasks_from` entry point used anywhere has its own entry in the role's argument_specs.
- The checks the specs enforce (choices) left the roles' assert.yml; the specs refuse those values.
- The Molecule scenarios' verify.yml only imports verify_tasks/*.yml; cluster_check.py calls the
  fake's API through tests/fake_discord/client.py, as the fake's own command line does.
- Every role default is a literal value; inventories/role-wiring.yml (linked into every
  inventory's group_vars/all) binds role options to the project-wide values.
"""

from __future__ import annotations

import getpass
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.provisioning.test_provisioning import ROLES, ROOT, run, tool

PRIVATE = re.compile(r"(?<![A-Za-z0-9_])_(" + "|".join(ROLES) + r")_[a-z0-9_]+")
PLAYS = [ROOT / "playbook.yml", *sorted((ROOT / "ansible").glob("*.yml"))]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def sources() -> list[Path]:
    """Every file Ansible reads: plays, roles (tasks, vars, defaults, templates), Molecule."""
    files = [*PLAYS, *(ROOT / "roles").rglob("*.yml"), *(ROOT / "roles").rglob("*.j2"),
             *(ROOT / "molecule").rglob("*.yml")]
    return [f for f in files if "vault" not in f.name]


def owner(path: Path) -> str | None:
    """The role a file belongs to, or None for a play or a Molecule file."""
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "roles" else None


def test_nothing_reads_another_roles_private_names() -> None:
    """Regression (issue 15, item 1): playbook.yml read _guildbot_release_build and
    _guildbot_rollout_current_id, ansible/*.yml _guildbot_rollout_cli, _stop_marker, ... and
    guildbot_offsite read _guildbot_rollout_before_id. Fails on the old code because of those
    reads; each now has a public name set and documented by its role."""
    found = sorted(
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sources()
        for match in PRIVATE.finditer(path.read_text())
        if match.group(1) != owner(path)
    )
    assert found == []


def entry_points() -> set[tuple[str, str]]:
    """(role, entry point) of every import_role/include_role with tasks_from, in plays and roles."""
    used = set()
    for path in sources():
        text = path.read_text()
        for match in re.finditer(r"name: (guildbot_\w+)\n\s+tasks_from: ([\w-]+)\n", text):
            used.add((match.group(1), match.group(2)))
    return used


def test_every_tasks_from_entry_point_has_its_argument_spec() -> None:
    """Regression (issue 15, item 2): only `main` had a spec, so guildbot_rollout's switch,
    marker, rescue, ... validated nothing (and `tasks_from: node.yml` skipped guildbot_prometheus's
    `node` spec: Ansible looks the spec up under the exact value). Fails on the old code because
    those entries are missing and every tasks_from ended in .yml."""
    # Ansible looks the spec up under tasks_from's exact value: "marker.yml" would skip "marker".
    suffixed = [str(path.relative_to(ROOT)) for path in sources()
                if re.search(r"tasks_from: \S+\.yml", path.read_text())]
    assert suffixed == []
    used = entry_points()
    assert ("guildbot_rollout", "rescue") in used  # the scan finds them
    missing = []
    for role, entry in sorted(used):
        specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
        if entry not in specs["argument_specs"]:
            missing.append(f"{role}: {entry}")
    assert missing == []


def refused(tmp_path: Path, role: str, entry: str, **extra: object) -> str:
    """Output of a localhost play that imports ROLE's ENTRY with EXTRA; asserts it failed in the
    argument validation, before any task of the role ran."""
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "Apply", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "The role", "ansible.builtin.import_role": {
            "name": role, "tasks_from": entry}}]}]))
    (tmp_path / "extra.yml").write_text(yaml.safe_dump({
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "guildbot_host_user": getpass.getuser(), "guildbot_discord_token": "fake-token", **extra}))
    result = run(tool("ansible-playbook"), str(tmp_path / "play.yml"), "-i", "localhost,",
                 "-e", f"@{tmp_path / 'extra.yml'}")
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"Validating arguments against arg spec '{entry}'" in result.stdout
    assert "ok=0" in result.stdout  # nothing ran before the validation failed
    return result.stdout


@pytest.mark.parametrize(("entry", "name", "value", "choices"), [
    ("main", "guildbot_config_stage", "staging", "local, beta, expanded, public"),
    ("main", "guildbot_config_log_format", "xml", "json, text"),
    ("main", "guildbot_logrotate_frequency", "yearly", "hourly, daily, weekly, monthly"),
    ("main", "guildbot_service_process_manager", "runit", "systemd, supervisor"),
    ("main", "guildbot_service_state", "running", "started, stopped"),
    ("assert", "guildbot_rollout_process_manager", "runit", "systemd, supervisor"),
    ("marker", "guildbot_rollout_process_manager", "runit", "systemd, supervisor"),
])
def test_the_spec_refuses_a_value_out_of_its_choices(tmp_path, entry, name, value, choices):
    """Regression (issue 15, item 3): the `in [...]` checks left assert.yml; the specs' choices
    refuse the value first, naming the variable and the allowed values. Fails on the old code for
    guildbot_rollout_process_manager, which had no choices (its assert.yml said it in general
    words); the others show the spec alone now carries the check their assert repeated."""
    extra = {"guildbot_rollout_marker_name": "maintenance"} if entry == "marker" else {}
    role = "_".join(name.split("_")[:2])
    out = refused(tmp_path, role, entry, **{name: value}, **extra)
    assert f"value of {name} must be one of: {choices}, got: {value}" in out


def test_an_entry_points_required_input_is_refused_when_missing(tmp_path: Path) -> None:
    """Regression (issue 15, item 2): marker.yml without guildbot_rollout_marker_name used to fail
    deep inside the shell script's argv; now the spec names the missing input. Fails on the old
    code because the entry point had no spec."""
    out = refused(tmp_path, "guildbot_rollout", "marker")
    assert "missing required arguments: guildbot_rollout_marker_name" in out


def test_the_health_ports_have_no_jinja_spacing_warning() -> None:
    """Regression (issue 15, item 5): _guildbot_config_health_ports was a {% for %} loop that
    ansible-lint flagged jinja[spacing] (a warning, so the production profile still passed). Fails
    on the old code because of that warning."""
    result = run(tool("ansible-lint"), "--offline", "roles/guildbot_config/vars/main.yml")
    assert "jinja[spacing]" not in result.stdout + result.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_verify_yml_only_imports_its_verify_tasks(scenario: str) -> None:
    """Regression (issue 15, item 6): each scenario's verify.yml held hundreds of lines of checks;
    now each play imports verify_tasks/<topic>.yml, and every such file is imported once. Fails
    on the old code because the plays held the tasks themselves."""
    base = ROOT / "molecule" / scenario
    imported = []
    for play in yaml.safe_load((base / "verify.yml").read_text()):
        for task in play["tasks"]:
            assert list(task) == ["name", "ansible.builtin.import_tasks"], task
            imported.append(task["ansible.builtin.import_tasks"])
    on_disk = sorted(f"verify_tasks/{p.name}" for p in (base / "verify_tasks").glob("*.yml"))
    assert sorted(imported) == on_disk


def test_cluster_check_calls_the_api_through_the_fakes_client() -> None:
    """Regression (issue 15, item 7): molecule/cluster/cluster_check.py had its own copy of the
    fake CLI's _call(). Fails on the old code because of that copy."""
    source = (ROOT / "molecule/cluster/cluster_check.py").read_text()
    assert "from tests.fake_discord.client import call" in source
    assert "urllib" not in source and "def call(" not in source
    cli = (ROOT / "tests/fake_discord/cli.py").read_text()
    assert "from tests.fake_discord.client import call" in cli


def templated(value: object) -> bool:
    """Whether a YAML value holds Jinja anywhere (a string, or inside a list or a mapping)."""
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def test_every_role_default_is_a_literal_value() -> None:
    """Regression (issue 15, item 8): about 60 role defaults were Jinja reading project-wide names,
    e.g. guildbot_service_install_dir: "{{ guildbot_host_install_dir | default('/opt/guildbot') }}".
    Fails on the old code because of those; the inventories now bind them (role-wiring.yml)."""
    found = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "roles").glob("*/defaults/main.yml"))
        for name, value in (yaml.safe_load(path.read_text()) or {}).items()
        if templated(value)
    )
    assert found == []


def test_every_inventory_links_the_role_wiring_of_role_options() -> None:
    """Regression (issue 15, item 8): with literal defaults, an inventory without the wiring would
    run the roles on their standalone values (the stage "local", one process, no database URL).
    Every inventory's group_vars/all, and each Molecule scenario's own, links it first; it sets
    only options the roles declare in defaults/main.yml. Fails on the old code because
    inventories/role-wiring.yml did not exist."""
    wiring = ROOT / "inventories/role-wiring.yml"
    options = {name for path in (ROOT / "roles").glob("*/defaults/main.yml")
               for name in yaml.safe_load(path.read_text()) or {}}
    assert sorted(set(yaml.safe_load(wiring.read_text())) - options) == []
    group_vars = [*(ROOT / "inventories").glob("*/group_vars/all"),
                  *(ROOT / "molecule").glob("*/group_vars/all")]
    assert len(group_vars) >= 4
    for directory in group_vars:
        first = sorted(p.name for p in directory.iterdir())[0]
        assert first == "00-role-wiring.yml", directory
        assert (directory / first).resolve() == wiring.resolve(), directory
