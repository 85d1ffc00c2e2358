"""Prometheus for the fleet and alert rules as code (issue 16, part 2).

- The alerting rules pass `promtool check rules`, and their unit tests (tests/prometheus/) pass
  `promtool test rules`, with one case where each alert pages and one where it does not.
- Every rule of the bot's own (in-process and cron) that Prometheus takes over is named by exactly
  one alert's `replaces` label: one source per alert.
- roles/guildbot_prometheus renders, from a cluster inventory, a prometheus.yml that `promtool check
  config` accepts, with every process of every bot host and every node as targets, and an
  alertmanager.yml with the Discord receiver that `amtool check-config` accepts; the token and the
  webhook never reach Ansible's output.
- guildbot_config gives each process its private /metrics (port + N), the Prometheus hosts'
  addresses, the switch, and the metrics_token credential.

Needs Debian's prometheus (promtool) and prometheus-alertmanager (amtool): scripts/setup-dev.sh.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.monitoring.alerting import PROMETHEUS_RULES
from tests.provisioning.test_processes import converge, env
from tests.provisioning.test_provisioning import ROOT, WIRING, run, tool

ROLE = ROOT / "roles/guildbot_prometheus"
RULES = ROLE / "files/rules/guildbot.rules.yml"
RULE_TESTS = ROOT / "tests/prometheus/guildbot.rules.test.yml"
TOKEN = "metrics-Token-7c0ffee-0123456789"  # noqa: S105 (a test value that must never be printed)
WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/hook-Secret-abcdef"


def prom_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's prometheus and prometheus-alertmanager "
                    "(scripts/setup-dev.sh)")
    return path


def alerts() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_the_rules_pass_promtool_check() -> None:
    result = subprocess.run([prom_tool("promtool"), "check", "rules", str(RULES)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    result = subprocess.run([prom_tool("promtool"), "test", "rules", str(RULE_TESTS)],
                            capture_output=True, text=True, check=False, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_paging_and_a_quiet_case() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    paging: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case["alert_rule_test"]:
            (paging if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - paging == set(), "alerts without a case where they page"
    assert names - quiet == set(), "alerts without a case where they stay quiet"


def test_one_source_per_alert() -> None:
    """Every bot or cron rule Prometheus takes over (bot.monitoring.alerting.PROMETHEUS_RULES,
    switched off by GUILDBOT_ALERTS_BY_PROMETHEUS) is replaced by exactly one alert."""
    replaced = [rule["labels"]["replaces"] for rule in alerts() if "replaces" in rule["labels"]]
    assert sorted(replaced) == sorted(PROMETHEUS_RULES)
    assert all(rule["labels"]["severity"] == "page" for rule in alerts())


# --- the role's files, rendered from a cluster inventory ---------------------------------------
def render(base: Path, **overrides: object) -> subprocess.CompletedProcess[str]:
    """prometheus.yml and alertmanager.yml for a cluster like inventories/public (two bot hosts
    with two processes each, one database host running Prometheus), rendered under base."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {
        "vars": {"guildbot_metrics_token": TOKEN, "guildbot_alert_webhook_url": WEBHOOK},
        "children": {
            "guildbot": {"hosts": {
                "bot-a": {"guildbot_processes": 2, "guildbot_metrics_address": "10.0.0.11"},
                "bot-b": {"guildbot_processes": 2, "guildbot_metrics_address": "10.0.0.12"}}},
            "guildbot_postgres": {"hosts": {"db": {**local,
                                                   "guildbot_metrics_address": "10.0.0.10"}}},
            "guildbot_prometheus": {"hosts": {"db": {}}}}}}
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
    tasks: list[dict] = [{"name": "Check the inputs",
                          "ansible.builtin.import_tasks": f"{ROLE}/tasks/assert.yml"}]
    tasks += [{"name": f"Render {name}", "ansible.builtin.template": {
        "src": f"{ROLE}/templates/{name}.j2", "dest": f"{base}/{name}", "mode": "0600"},
        "no_log": True} for name in ("prometheus.yml", "alertmanager.yml")]
    (base / "play.yml").write_text(yaml.safe_dump([{
        "name": "Render", "hosts": "db", "gather_facts": True,
        "vars_files": [f"{ROLE}/defaults/main.yml", str(WIRING), f"{ROLE}/vars/main.yml"],
        "tasks": tasks}]))
    return run(tool("ansible-playbook"), str(base / "play.yml"), "-i", str(base / "inventory.yml"),
               "-e", json.dumps(overrides), "--diff")


def test_prometheus_scrapes_every_process_and_node_of_the_inventory(tmp_path: Path) -> None:
    """Regression (issue 16, item 5): one target per bot process (the host's private address,
    port 9710 + N, labels host and process) with the bearer token file, one per node; promtool
    accepts the file. Fails on the old code because there was no Prometheus role."""
    result = render(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    bots = [(c["targets"], c["labels"]) for c in jobs["guildbot"]["static_configs"]]
    assert bots == [
        (["10.0.0.11:9710"], {"host": "bot-a", "process": "0"}),
        (["10.0.0.11:9711"], {"host": "bot-a", "process": "1"}),
        (["10.0.0.12:9710"], {"host": "bot-b", "process": "0"}),
        (["10.0.0.12:9711"], {"host": "bot-b", "process": "1"}),
    ]
    assert jobs["guildbot"]["authorization"] == {
        "type": "Bearer", "credentials_file": "/etc/prometheus/guildbot-metrics-token"}
    nodes = sorted(c["targets"][0] for c in jobs["node"]["static_configs"])
    assert nodes == ["10.0.0.10:9100", "10.0.0.11:9100", "10.0.0.12:9100"]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    # promtool wants the rules and the token file where the config names them: a copy with
    # local paths.
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "rules").mkdir()
    shutil.copy(RULES, tmp_path / "rules/guildbot.rules.yml")
    local = (tmp_path / "prometheus.yml").read_text().replace(
        "/etc/prometheus/guildbot-metrics-token", str(tmp_path / "token")).replace(
        "/etc/prometheus/rules", str(tmp_path / "rules"))
    (tmp_path / "local.yml").write_text(local)
    check = subprocess.run([prom_tool("promtool"), "check", "config", str(tmp_path / "local.yml")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_alertmanager_posts_to_the_discord_webhook(tmp_path: Path) -> None:
    """Regression (issue 16, item 5): every alert goes to the Discord receiver with the vault's
    webhook, firing and resolved; amtool accepts the file and the URL never reaches the output.
    Fails on the old code because there was no Alertmanager configuration."""
    result = render(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    config = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    assert config["route"]["receiver"] == "discord"
    assert config["receivers"] == [{"name": "discord", "discord_configs": [
        {"webhook_url": WEBHOOK, "send_resolved": True}]}]
    check = subprocess.run([prom_tool("amtool"), "check-config",
                            str(tmp_path / "alertmanager.yml")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert WEBHOOK not in check.stdout + check.stderr
    assert WEBHOOK not in result.stdout + result.stderr


@pytest.mark.parametrize(("overrides", "message"), [
    ({"guildbot_metrics_token": "short-token"}, "guildbot_metrics_token must be set"),
    ({"guildbot_alert_webhook_url": ""}, "Alertmanager needs the Discord alert webhook"),
    ({"guildbot_prometheus_listen": "0.0.0.0:9090"}, "stay on loopback"),
])
def test_the_role_refuses_bad_inputs_without_showing_secrets(tmp_path, overrides, message):
    """Regression (issue 16, item 5): a short token, no webhook or a public Prometheus fails the
    play before anything is written, naming the fix, with neither secret in the output."""
    result = render(tmp_path, **overrides)
    assert result.returncode != 0
    assert message in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert WEBHOOK not in result.stdout + result.stderr
    assert not (tmp_path / "prometheus.yml").exists()


# --- the bot hosts' side (guildbot_config) -----------------------------------------------------
PROMETHEUS_GROUP = {"guildbot_prometheus": {"hosts": {"db": {"guildbot_metrics_address":
                                                                  "10.0.0.10"}}}}
ADDRESSES = {"bot-a": {"guildbot_metrics_address": "10.0.0.11"},
             "bot-b": {"guildbot_metrics_address": "10.0.0.12"}}


def test_each_process_gets_its_private_metrics_listener(tmp_path: Path) -> None:
    """Regression (issue 16, item 6): with guildbot_prometheus_enabled, guildbot.env binds the
    private /metrics to the host's address for the Prometheus host alone and turns the bot's own
    alerts off; each process gets port 9710 + N; the token is the 0600 credential metrics_token
    and never printed. Fails on the old code because none of it was written."""
    result = converge(tmp_path, host_vars=ADDRESSES, groups=PROMETHEUS_GROUP,
                      guildbot_prometheus_enabled=True, guildbot_metrics_token=TOKEN)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    host = env(tmp_path / "etc/guildbot.env")
    assert (host["GUILDBOT_METRICS_HOST"], host["GUILDBOT_METRICS_ALLOW"],
            host["GUILDBOT_ALERTS_BY_PROMETHEUS"]) == ("10.0.0.11", "10.0.0.10", "true")
    assert host["GUILDBOT_HEALTH_PORT"] == "8710"  # the loopback server is unchanged
    for index in (0, 1):
        assert env(tmp_path / f"etc/guildbot@{index}.env")["GUILDBOT_METRICS_PORT"] == str(
            9710 + index)
    credential = tmp_path / "etc/credentials/metrics_token"
    assert credential.read_text() == TOKEN
    assert oct(credential.stat().st_mode & 0o777) == "0o600"
    assert TOKEN not in result.stdout + result.stderr

    # Turned off again: no listener, no token, the bot's own alerts back.
    result = converge(tmp_path, host_vars=ADDRESSES, groups=PROMETHEUS_GROUP)
    assert result.returncode == 0, result.stdout[-3000:]
    host = env(tmp_path / "etc/guildbot.env")
    assert not {k for k in host if k.startswith("GUILDBOT_METRICS")} | (
        {"GUILDBOT_ALERTS_BY_PROMETHEUS"} & set(host))
    assert "GUILDBOT_METRICS_PORT" not in env(tmp_path / "etc/guildbot@0.env")
    assert not credential.exists()


def test_prometheus_without_a_token_or_an_address_is_refused(tmp_path: Path) -> None:
    """Regression (issue 16, item 6): guildbot_prometheus_enabled without guildbot_metrics_token
    or the host's guildbot_metrics_address fails before anything is written."""
    result = converge(tmp_path, host_vars=ADDRESSES, groups=PROMETHEUS_GROUP,
                      guildbot_prometheus_enabled=True, guildbot_metrics_token="")
    assert result.returncode != 0
    assert "guildbot_metrics_token must be set" in result.stdout
    result = converge(tmp_path, groups=PROMETHEUS_GROUP, guildbot_prometheus_enabled=True,
                      guildbot_metrics_token=TOKEN)
    assert result.returncode != 0
    assert "needs guildbot_metrics_address" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
