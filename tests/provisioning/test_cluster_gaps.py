"""Issue 12 (cluster-gaps): restarts process by process, diagnose on PostgreSQL, host-wide alerts
once per host, the emergency stop out of the bot user's reach. Run here, as the current user,
against stand-ins (supervisorctl, loopback /readyz servers); the units on a real host are the
Molecule scenarios' business (scripts/molecule-test.sh cluster, supervisor)."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.provisioning.test_cluster_ops import (
    URL,
    JsonHandler,
    jobs,
    render_cron,
    run_diagnose,
    serve,
    stop,
    write_inventory,
)
from tests.provisioning.test_provisioning import ROOT, tool

WRAPPER = "/usr/local/sbin/guildbot-cron"

# Stand-in for supervisorctl: the group guildbot of N programs, their states in a JSON file; every
# restart (and start) is recorded in the events file, and bumps the program's generation so its
# /readyz stand-in answers 503 again until it has "connected".
SUPERVISORCTL = """#!/usr/bin/env python3
import json, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
states = json.loads((here / "states.json").read_text())
def record(event, name):
    states[name]["generation"] += 1
    states[name]["state"] = "RUNNING"
    (here / "states.json.tmp").write_text(json.dumps(states))
    (here / "states.json.tmp").replace(here / "states.json")  # the /readyz stand-ins read it
    with open(here / "events", "a") as events:
        events.write(f"{event} {name}\\n")
verb, args = sys.argv[1], sys.argv[2:]
if verb == "status":
    for name, state in states.items():
        print(f"{name} {state['state']}")
elif verb == "avail":
    for name in states:
        print(f"{name}                    in use    auto      999:999")
elif verb in ("reread", "update"):
    pass
elif verb in ("start", "restart"):
    targets = list(states) if args[0].endswith(":*") else args
    for name in targets:
        record(verb, name)
        if verb == "restart":
            print(f"{name}: stopped")
        print(f"{name}: started")
else:
    sys.exit(f"unexpected supervisorctl {sys.argv[1:]}")
"""


def supervisor_stand_in(base: Path, processes: int) -> Path:
    bin_dir = base / "bin"
    bin_dir.mkdir()
    (bin_dir / "supervisorctl").write_text(SUPERVISORCTL)
    (bin_dir / "supervisorctl").chmod(0o755)
    (bin_dir / "states.json").write_text(json.dumps(
        {f"guildbot:guildbot-{n}": {"state": "RUNNING", "generation": 0}
         for n in range(processes)}))
    return bin_dir


def readyz_after_restart(bin_dir: Path, process: int) -> type[JsonHandler]:
    """Process N's /readyz: after each (re)start recorded by the stand-in, 503 twice
    (connecting), then 200, the first 200 of each generation recorded in the events file."""
    seen = {"generation": 0, "polls": 0}

    class Readyz(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's API)
            state = json.loads((bin_dir / "states.json").read_text())[
                f"guildbot:guildbot-{process}"]
            if state["generation"] != seen["generation"]:
                seen.update(generation=state["generation"], polls=0)
                with open(bin_dir / "events", "a") as events:
                    events.write(f"down {process}\n")
            seen["polls"] += 1
            ready = seen["polls"] > 2
            if seen["polls"] == 3:
                with open(bin_dir / "events", "a") as events:
                    events.write(f"ready {process}\n")
            self.answer(200 if ready else 503, {"reasons": [] if ready else ["connecting"]})
    return Readyz


def run_play(base: Path, bin_dir: Path, tasks: list[dict], **extra: object
             ) -> subprocess.CompletedProcess[str]:
    inventory = write_inventory(base, {"bot-a": {"guildbot_processes": 2}},
                                guildbot_service_process_manager="supervisor",
                                guildbot_rollout_ready_delay=1, **extra)
    (base / "play.yml").write_text(yaml.safe_dump([{
        "name": "Play", "hosts": "guildbot", "gather_facts": False, "tasks": tasks}]))
    return subprocess.run(
        [tool("ansible-playbook"), str(base / "play.yml"), "-i", str(inventory)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
             "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})


def restarted_in_turn(bin_dir: Path, result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [line for line in (bin_dir / "events").read_text().splitlines()
            if not line.startswith("down")]


def test_rollback_restart_goes_process_by_process_each_gated_on_its_readyz(tmp_path: Path):
    """Regression (issue 12, cluster-gaps item 2): the rollout's restart.yml (rollback.yml, the
    rescue) restarts process 0, waits for its /readyz, then process 1. Fails on the old code
    because it restarted the whole group at once (`guildbot:`): both restarts recorded before
    either process was ready."""
    bin_dir = supervisor_stand_in(tmp_path, 2)
    base, servers = serve([readyz_after_restart(bin_dir, 0), readyz_after_restart(bin_dir, 1)])
    try:
        result = run_play(tmp_path, bin_dir, [{
            "name": "Restart", "ansible.builtin.import_role": {
                "name": "guildbot_rollout", "tasks_from": "restart.yml"}}],
            guildbot_config_health_port=base)
    finally:
        stop(servers)
    assert restarted_in_turn(bin_dir, result) == [
        "restart guildbot:guildbot-0", "ready 0", "restart guildbot:guildbot-1", "ready 1"]


def test_supervisor_handler_restarts_program_by_program(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-gaps item 3): guildbot_service's restart handler under
    supervisor, on a host with two programs, restarts guildbot-0, waits for its /readyz, then
    guildbot-1. Fails on the old code because it ran `supervisorctl restart guildbot:*` (the
    whole group at once)."""
    bin_dir = supervisor_stand_in(tmp_path, 2)
    base, servers = serve([readyz_after_restart(bin_dir, 0), readyz_after_restart(bin_dir, 1)])
    try:
        result = run_play(tmp_path, bin_dir, [
            {"name": "Load the role and its handlers", "ansible.builtin.include_role": {
                "name": "guildbot_service", "tasks_from": "assert.yml", "public": True}},
            {"name": "Notify", "ansible.builtin.command": "true", "changed_when": True,
             "notify": "guildbot restart"}],
            guildbot_config_health_port=base)
    finally:
        stop(servers)
    assert restarted_in_turn(bin_dir, result) == [
        "restart guildbot:guildbot-0", "ready 0", "restart guildbot:guildbot-1", "ready 1"]


# --- emergency stop: the drop-in's condition out of the bot user's reach -------------------------
def emergency_stop_files(base: Path, processes: int) -> dict[str, str]:
    """The drop-in emergency-stop.yml installs and every file it writes as root (dest -> owner),
    rendered from the playbook's own tasks with the role's variables."""
    tasks = yaml.safe_load((ROOT / "ansible/emergency-stop.yml").read_text())[0]["tasks"]
    copies = [t["ansible.builtin.copy"] for t in tasks if "ansible.builtin.copy" in t]
    (base / "play.yml").write_text(yaml.safe_dump([{
        "name": "Render", "hosts": "guildbot", "gather_facts": False,
        "vars": {"reason": "test"},
        "tasks": [
            {"name": "Load the role", "ansible.builtin.import_role": {
                "name": "guildbot_rollout", "tasks_from": "assert.yml"}},
            {"name": "Render", "ansible.builtin.copy": {
                "dest": str(base / "files.json"), "mode": "0644",
                "content": "{{ files | to_json }}"},
             "vars": {"files": [[c["dest"], {"content": c["content"], "owner": c.get("owner")}]
                                for c in copies]}}]}]))
    inventory = write_inventory(base, {"bot-a": {"guildbot_processes": processes}},
                                guildbot_database_url=URL)
    result = subprocess.run(
        [tool("ansible-playbook"), str(base / "play.yml"), "-i", str(inventory)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dict(json.loads((base / "files.json").read_text()))


def test_emergency_stop_condition_names_a_root_owned_file(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-gaps item 6): the drop-in's ConditionPathExists=! names a
    file root writes in /etc/guildbot (root:guildbot 0750), on one process and on several, so the
    bot's user cannot lift the stop by deleting it. Fails on the old code because the condition
    named the marker in the bot's own state directory (/var/lib/guildbot[/guildbot@%i])."""
    for processes in (1, 2):
        base = tmp_path / str(processes)
        base.mkdir()
        files = emergency_stop_files(base, processes)
        dropin = next(v["content"] for k, v in files.items()
                      if k.endswith("90-emergency-stop.conf"))
        conditions = [line.split("=!", 1)[1] for line in dropin.splitlines()
                      if line.startswith("ConditionPathExists=!")]
        assert conditions == ["/etc/guildbot/emergency-stop"], dropin
        assert files["/etc/guildbot/emergency-stop"] == {"content": "test\n", "owner": "root"}


# --- diagnose on PostgreSQL ----------------------------------------------------------------------
def test_diagnose_finds_postgresql_backups_where_they_are_taken(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-gaps item 4): on PostgreSQL, diagnose finds the newest
    `.pgdump` on the host that takes the backups (the first bot host) and, on the other bot host,
    names that host instead of reporting a problem. Fails on the old code because it looked for
    `*.db.gz` only: both hosts reported "no backup" (a PROBLEM)."""
    backups = tmp_path / "backups"
    (backups / "daily").mkdir(parents=True)
    (backups / "daily/guildbot-20261130T031700Z.pgdump").write_bytes(b"PGDMP")
    inventory = write_inventory(tmp_path, {"bot-a": {}, "bot-b": {}},
                                guildbot_database_url=URL,
                                guildbot_host_state_dir=str(tmp_path / "lib"),
                                guildbot_host_log_dir=str(tmp_path / "log"),
                                guildbot_host_backup_dir=str(backups))
    run_diagnose(tmp_path, inventory)
    verdicts = {host: [line for line in (tmp_path / f"out/{host}.txt").read_text().splitlines()
                       if line.startswith("backups ")] for host in ("bot-a", "bot-b")}
    assert verdicts == {
        "bot-a": ["backups OK newest 0 h old"],
        "bot-b": ["backups OK taken on bot-a (diagnose that host for their age)"]}


# --- host-wide alerts once per host --------------------------------------------------------------
def test_host_wide_resources_are_checked_by_one_process_per_host(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-gaps item 5): of a host's check-resources@N, only process
    0's measures the host's CPU, memory and disk; the others carry
    GUILDBOT_ALERT_HOST_RESOURCES=false (their service, restarts and unit memory stay theirs).
    A one-process host is unchanged. Fails on the old code because every process's check
    measured the host: one page per process for one problem."""
    cron = render_cron(tmp_path, {"bot-a": {"guildbot_processes": 3}, "bot-b": {}},
                       guildbot_database_url=URL)
    checks = [line for line in jobs(cron["bot-a"]) if "check-resources" in line]
    assert ["GUILDBOT_ALERT_HOST_RESOURCES=false" in line for line in checks] == [
        False, True, True]
    assert not any("GUILDBOT_ALERT_HOST_RESOURCES" in line for line in jobs(cron["bot-b"]))


# --- announce.yml: record once per database, wait for the fleet ---------------------------------
ANNOUNCE_CLI = """#!/usr/bin/env python3
# Stand-in for guildbot-cli: records its arguments; `announce --status` answers one pending guild
# until it has been asked twice (the processes sending meanwhile), then none.
import json, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
with open(here / "calls", "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
asked = sum(1 for line in (here / "calls").read_text().splitlines() if "--status" in line)
if "--status" in sys.argv:
    pending = 1 if asked < 2 else 0
    print(json.dumps({"announcements": [{"announcement_id": 7, "created_at": 1.0, "sent": 3,
                                         "failed": 0, "sending": 0, "pending": pending}]}))
else:
    print(json.dumps({"channels": 4, "dry_run": False, "announcement_id": 7}))
"""


def test_announce_records_once_per_database_and_waits_for_the_fleet(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-gaps item 1): on a PostgreSQL cluster of two hosts the play
    records the announcement once (on the host of the database jobs) and polls `announce --status`
    until no guild is pending. Fails on the old code because the play ran the CLI that sent every
    message itself and never asked for progress."""
    cli = tmp_path / "guildbot-cli"
    cli.write_text(ANNOUNCE_CLI)
    cli.chmod(0o755)
    inventory = write_inventory(tmp_path, {"bot-a": {"guildbot_processes": 2}, "bot-b": {}},
                                guildbot_database_url=URL)
    result = subprocess.run(
        [tool("ansible-playbook"), str(ROOT / "ansible/announce.yml"), "-i", str(inventory),
         "-e", "message=hello", "-e", f"guildbot_rollout_cli={cli}",
         "-e", "announce_wait_delay=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    user = getpass.getuser()
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"--user {user} announce hello",
        f"--user {user} announce --status", f"--user {user} announce --status"]
    assert "'pending': 0" in result.stdout
