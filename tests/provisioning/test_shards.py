"""Shard assignment from the inventory (issue 12): the filter that computes it
(roles/guildbot_config/filter_plugins/guildbot_shards.py) and the check the site playbook runs on
the controller before it touches any host (ansible/shard-check.yml)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

from tests.provisioning.test_provisioning import ROOT, run, tool

FILTER = ROOT / "roles/guildbot_config/filter_plugins/guildbot_shards.py"
INVENTORIES = Path(__file__).parent / "inventories"
_spec = importlib.util.spec_from_file_location("guildbot_shards", FILTER)
assert _spec and _spec.loader
shards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shards)

PG = "postgresql://guildbot@db.example.internal:5432/guildbot"


def plan(shard_count: int = 0, database_url: str = PG, **hosts: dict) -> dict:
    hostvars = {name: {"guildbot_shard_count": shard_count, "guildbot_database_url": database_url,
                       **values} for name, values in hosts.items()}
    return shards.plan(list(hosts), hostvars)


def assigned(result: dict) -> dict[str, list[str]]:
    return {host: [p["shard_ids"] for p in processes]
            for host, processes in result["hosts"].items()}


def test_processes_get_contiguous_blocks_in_inventory_order() -> None:
    result = plan(4, a={"guildbot_processes": 2}, b={"guildbot_processes": 2})
    assert result["problems"] == []
    assert assigned(result) == {"a": ["0", "1"], "b": ["2", "3"]}
    assert result["hosts"]["b"][1] == {"index": 1, "shards": [3], "shard_ids": "3",
                                       "shard_count": 4}


def test_uneven_blocks_differ_by_at_most_one_shard() -> None:
    result = plan(10, a={"guildbot_processes": 3}, b={})
    assert result["problems"] == []
    assert assigned(result) == {"a": ["0-2", "3-5", "6-7"], "b": ["8-9"]}


def test_one_process_with_every_shard_sets_no_shard_ids_and_may_stay_on_sqlite() -> None:
    assert plan(0, "", a={})["hosts"] == {
        "a": [{"index": 0, "shards": [], "shard_ids": "", "shard_count": 0}]}
    result = plan(2, "", a={})
    assert result["problems"] == [] and assigned(result) == {"a": [""]}


def test_an_override_keeps_its_shards_and_the_others_share_the_rest() -> None:
    result = plan(6, a={"guildbot_shard_ids": ["2-3"]}, b={"guildbot_processes": 2})
    assert result["problems"] == []
    assert assigned(result) == {"a": ["2-3"], "b": ["0-1", "4-5"]}


def test_clusters_are_checked_apart() -> None:
    result = plan(0, "", a={"guildbot_cluster": "one"}, b={"guildbot_cluster": "two"})
    assert result["problems"] == []


@pytest.mark.parametrize(("hosts", "count", "url", "message"), [
    ({"a": {}, "b": {}}, 0, "",
     "cluster guildbot: unsharded (guildbot_shard_count 0) but 2 processes (a process 0, "
     "b process 0) would each serve every guild"),
    ({"a": {"guildbot_shard_ids": ["0-2"]}, "b": {"guildbot_shard_ids": ["2-3"]}}, 4, PG,
     "cluster guildbot: shard(s) 2 would be served by more than one process: "
     "a process 0 (0-2), b process 0 (2-3)"),
    ({"a": {"guildbot_shard_ids": ["0"]}, "b": {"guildbot_shard_ids": ["3"]}}, 4, PG,
     "cluster guildbot: shard(s) 1-2 of 4 would have no process"),
    ({"a": {"guildbot_processes": 3}}, 2, PG,
     "cluster guildbot: 3 processes (a process 0, a process 1, a process 2) share 2 unclaimed "
     "shard(s) of 2: a process would have no shard"),
    ({"a": {"guildbot_processes": 2}}, 2, "",
     "cluster guildbot: a: its processes run only some of the shards, which needs the shared "
     "PostgreSQL database"),
    ({"a": {"guildbot_shard_ids": ["0-4"]}}, 4, PG,
     "cluster guildbot: a: guildbot_shard_ids[0]: '0-4' is outside 0-3"),
    ({"a": {"guildbot_processes": 2, "guildbot_shard_ids": ["0-3"]}}, 4, PG,
     "cluster guildbot: a: guildbot_shard_ids must list one shard spec per process (2"),
    ({"a": {"guildbot_processes": "two"}}, 4, PG,
     "cluster guildbot: a: guildbot_processes must be a whole number >= 1 (got 'two')"),
    ({"a": {}, "b": {"guildbot_shard_count": 2}}, 4, PG,
     "cluster guildbot: guildbot_shard_count must be one whole number >= 0 for all its hosts "
     "(got a=4, b=2)"),
])
def test_a_bad_assignment_is_refused_naming_what_is_wrong(hosts, count, url, message) -> None:
    problems = plan(count, url, **hosts)["problems"]
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_shard_ids_round_trip_through_the_bots_syntax() -> None:
    assert shards.format_ids([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert shards.parse_ids("0-2,5, 7-8", 9) == [0, 1, 2, 5, 7, 8]


def check(playbook: str, inventory: Path) -> tuple[int, str]:
    result = run(tool("ansible-playbook"), playbook, "-i", str(inventory))
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(("inventory", "message"), [
    ("overlap", "shard(s) 2 would be served by more than one process: bot-a.example.internal "
                "process 1 (2), bot-b.example.internal process 0 (2-3)"),
    ("gap", "shard(s) 1,3 of 4 would have no process"),
    ("unsharded", "unsharded (guildbot_shard_count 0) but 2 processes"),
])
def test_the_site_playbook_refuses_a_bad_inventory_before_touching_any_host(inventory, message):
    """Regression (issue 12, shard check): two hosts with one token and no shard split (the old
    public stage) both answered every interaction and drifted apart; fails on the old code because
    playbook.yml had no check: it went on to the hosts (here unreachable) without the message."""
    code, output = check("playbook.yml", INVENTORIES / inventory)
    assert code != 0
    assert f"guildbot shard check: the inventory is refused, nothing was changed: cluster " \
           f"guildbot: {message}" in output, output[-3000:]
    assert "bot-a.example.internal" not in output.split("PLAY RECAP")[-1], output[-3000:]


def without_vault(stage: str, tmp_path: Path) -> Path:
    """The stage's inventory without its vault: the check needs no secret, and only the local
    stage's vault password is here."""
    copy = tmp_path / stage
    shutil.copytree(ROOT / "inventories" / stage, copy)
    (copy / "group_vars/all/vault.yml").unlink()
    return copy


@pytest.mark.parametrize("stage", ["local", "beta", "expanded"])
def test_the_one_host_stages_pass_the_check(stage: str, tmp_path: Path) -> None:
    code, output = check("ansible/shard-check.yml", without_vault(stage, tmp_path))
    assert code == 0, output[-3000:]
    assert "process 0: shards all (shard count 0, unsharded)" in output


def test_the_public_stage_is_a_cluster_that_passes_the_check(tmp_path: Path) -> None:
    """Regression (issue 12, public stage): two hosts shared one token with no shard split and a
    2,000-guild cap; fails on the old inventory because the check refuses it (unsharded, two
    processes)."""
    code, output = check("ansible/shard-check.yml", without_vault("public", tmp_path))
    assert code == 0, output[-3000:]
    assert "(item=guildbot-public-1.example.internal) => {\n    \"msg\": \"process 0: shards 0; " \
           "process 1: shards 1 (shard count 4)\"" in output, output[-3000:]
    assert "(item=guildbot-public-2.example.internal) => {\n    \"msg\": \"process 0: shards 2; " \
           "process 1: shards 3 (shard count 4)\"" in output, output[-3000:]
    inventory = yaml.safe_load((ROOT / "inventories/public/hosts.yml").read_text())
    assert list(inventory["all"]["children"]["guildbot_postgres"]["hosts"]) == [
        "guildbot-db-1.example.internal"]
    settings = yaml.safe_load((ROOT / "inventories/public/group_vars/all/main.yml").read_text())
    assert settings["guildbot_max_guilds"] == 0
    assert settings["guildbot_database_url"].startswith("postgresql://guildbot@guildbot-db-1.")
    assert settings["guildbot_database_password"] == "{{ vault_guildbot_database_password }}"
