"""Operator playbooks and cron on hosts with several processes (issue 12, cluster-ops): rendered
and run here, as the current user, under a scratch directory. The units on a real host are the
Molecule scenarios' business (scripts/molecule-test.sh)."""

from __future__ import annotations

import getpass
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from tests.provisioning.test_provisioning import ROOT, link_role_wiring, run, tool

URL = "postgresql://guildbot@db.example.internal:5432/guildbot"


def write_inventory(base: Path, hosts: dict[str, dict[str, object]], **extra: object) -> Path:
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "ansible_become": False, "guildbot_host_user": getpass.getuser(), **extra},
        "children": {"guildbot": {"hosts": hosts}}}}
    path = base / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    link_role_wiring(base)
    return path


# --- cron ----------------------------------------------------------------------------------------
def render_cron(base: Path, hosts: dict[str, dict[str, object]], **extra: object
                ) -> dict[str, list[str]]:
    """/etc/cron.d/guildbot of every host (its job lines only), from the role's own defaults."""
    inventory = write_inventory(base, hosts, **extra)
    (base / "play.yml").write_text(yaml.safe_dump([{
        "name": "Render", "hosts": "guildbot", "gather_facts": False,
        "tasks": [
            {"name": "Load the role", "ansible.builtin.include_role": {
                "name": "guildbot_cron", "tasks_from": "assert.yml", "public": True}},
            {"name": "Render", "ansible.builtin.template": {
                "src": str(ROOT / "roles/guildbot_cron/templates/cron.d-guildbot.j2"),
                "dest": f"{base}/{{{{ inventory_hostname }}}}.cron", "mode": "0644"}}]}]))
    result = run(tool("ansible-playbook"), str(base / "play.yml"), "-i", str(inventory))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {host: (base / f"{host}.cron").read_text().splitlines() for host in hosts}


def jobs(lines: list[str]) -> list[str]:
    """The job lines without their schedule and timeout: 'root [ENV...] wrapper NAME ARGS'."""
    out = []
    for line in lines:
        if line[:1].isdigit() or line[:1] == "*":
            fields = line.split()
            wrapper = next(i for i, f in enumerate(fields) if f.endswith("/guildbot-cron"))
            out.append(" ".join(fields[5:wrapper + 2] + fields[wrapper + 3:]))
    return out


WRAPPER = "/usr/local/sbin/guildbot-cron"


def test_postgres_cluster_backs_up_once_and_checks_every_process(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-ops item 3): on a PostgreSQL cluster the backup and the drill
    run once per deployment (the first bot host, as process 0 so check-resources@0 reads their
    status) and every process gets its own check-resources (its settings, its unit), the backup
    age watched only where the backups run. Fails on the old code because every host scheduled
    its own backup and one check-resources of guildbot.service."""
    cron = render_cron(tmp_path, {"bot-a": {"guildbot_processes": 2},
                                  "bot-b": {"guildbot_processes": 2}},
                       guildbot_database_url=URL, guildbot_cron_drill_enabled=True)
    assert jobs(cron["bot-a"]) == [
        f"root GUILDBOT_INSTANCE=0 {WRAPPER} backup backup --kind scheduled",
        f"root GUILDBOT_INSTANCE=0 {WRAPPER} drill drill",
        f"root GUILDBOT_INSTANCE=0 GUILDBOT_SERVICE_NAME=guildbot@0.service {WRAPPER} "
        "check-resources@0 check-resources",
        f"root GUILDBOT_INSTANCE=1 GUILDBOT_SERVICE_NAME=guildbot@1.service "
        f"GUILDBOT_ALERT_BACKUP_AGE=false GUILDBOT_ALERT_HOST_RESOURCES=false {WRAPPER} "
        "check-resources@1 check-resources",
    ]
    assert jobs(cron["bot-b"]) == [
        f"root GUILDBOT_INSTANCE={n} GUILDBOT_SERVICE_NAME=guildbot@{n}.service "
        f"GUILDBOT_ALERT_BACKUP_AGE=false {'GUILDBOT_ALERT_HOST_RESOURCES=false ' if n else ''}"
        f"{WRAPPER} check-resources@{n} check-resources"
        for n in (0, 1)]
    assert "# backup: runs on bot-a" in cron["bot-b"]
    assert "# drill: runs on bot-a" in cron["bot-b"]


def test_postgres_one_process_hosts_back_up_once_too(tmp_path: Path) -> None:
    cron = render_cron(tmp_path, {"bot-a": {}, "bot-b": {}}, guildbot_database_url=URL)
    assert jobs(cron["bot-a"]) == [f"root {WRAPPER} backup backup --kind scheduled",
                                   f"root {WRAPPER} check-resources check-resources"]
    assert jobs(cron["bot-b"]) == [
        f"root GUILDBOT_ALERT_BACKUP_AGE=false {WRAPPER} check-resources check-resources"]


def test_sqlite_hosts_keep_their_own_jobs(tmp_path: Path) -> None:
    """One process on SQLite, every host with its own database: the lines stay as they were."""
    cron = render_cron(tmp_path, {"bot-a": {}, "bot-b": {}}, guildbot_cron_drill_enabled=True)
    for host in ("bot-a", "bot-b"):
        assert jobs(cron[host]) == [f"root {WRAPPER} backup backup --kind scheduled",
                                    f"root {WRAPPER} drill drill",
                                    f"root {WRAPPER} check-resources check-resources"]


# --- maintenance: every process, written as the bot's user ---------------------------------------
RUNUSER = """#!/bin/sh
# Stand-in for runuser (which only root may use): records its arguments, then runs the command as
# the current user, which is the bot's user in this test.
echo "$1 $2 $3" >> "$(dirname "$0")/runuser.log"
[ "$1" = -u ] && [ "$3" = -- ] || { echo "unexpected runuser call: $*" >&2; exit 2; }
shift 3
exec "$@"
"""


def maintenance(base: Path, state: str, processes: int) -> None:
    inventory = write_inventory(base, {"bot-a": {"guildbot_processes": processes}},
                                guildbot_host_state_dir=str(base / "lib"))
    # The stand-in runuser first on PATH (the local connection's modules inherit it).
    result = subprocess.run(
        [tool("ansible-playbook"), str(ROOT / "ansible/maintenance.yml"), "-i", str(inventory),
         "-e", f"state={state}"], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
             "PATH": f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_maintenance_reaches_every_process_as_the_bots_user(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-ops item 1): on a host with several processes the switch is
    written in each process's own state directory (where it reads it), as the bot's user, and a
    symlink planted there redirects nothing. Fails on the old code because maintenance.yml wrote
    only /var/lib/guildbot/maintenance, as root, following the link."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/runuser").write_text(RUNUSER)
    (tmp_path / "bin/runuser").chmod(0o755)
    lib = tmp_path / "lib"
    (lib / "guildbot@0").mkdir(parents=True)
    target = tmp_path / "precious"
    target.write_text("root's file\n")
    (lib / "guildbot@0/maintenance").symlink_to(target)

    maintenance(tmp_path, "on", processes=2)
    for n in (0, 1):
        flag = lib / f"guildbot@{n}/maintenance"
        assert not flag.is_symlink() and flag.is_file()
        assert "maintenance.yml" in flag.read_text()
    assert target.read_text() == "root's file\n"
    assert not (lib / "maintenance").exists()
    calls = (tmp_path / "bin/runuser.log").read_text().splitlines()
    assert calls and all(c == f"-u {getpass.getuser()} --" for c in calls)

    maintenance(tmp_path, "off", processes=2)
    assert not list(lib.glob("guildbot@*/maintenance"))
    assert target.read_text() == "root's file\n"


def test_maintenance_of_a_one_process_host_stays_in_the_state_directory(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/runuser").write_text(RUNUSER)
    (tmp_path / "bin/runuser").chmod(0o755)
    (tmp_path / "lib").mkdir()
    maintenance(tmp_path, "on", processes=1)
    assert (tmp_path / "lib/maintenance").is_file()
    assert not list((tmp_path / "lib").glob("guildbot@*"))
    maintenance(tmp_path, "off", processes=1)
    assert not (tmp_path / "lib/maintenance").exists()


# --- promotion: every process's /slo --------------------------------------------------------------
GOOD_SLO = {"lifetime": {"error_rate": 0.0, "avg_latency_ms": 20, "uptime_fraction": 1.0,
                         "commands": 500},
            "restarts_24h": 1, "crash_restarts_24h": 0, "uptime_seconds": 7200}


def serve(handlers: list[type[http.server.BaseHTTPRequestHandler]]
          ) -> tuple[int, list[http.server.HTTPServer]]:
    """One loopback server per handler on consecutive ports (base, base + 1, ...): each a
    process of the host."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        servers: list[http.server.HTTPServer] = []
        try:
            for offset, handler in enumerate(handlers):
                servers.append(http.server.HTTPServer(("127.0.0.1", base + offset), handler))
        except OSError:
            for server in servers:
                server.server_close()
            continue
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return base, servers
    raise RuntimeError("no free consecutive loopback ports")


def stop(servers: list[http.server.HTTPServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


class JsonHandler(http.server.BaseHTTPRequestHandler):
    def answer(self, status: int, payload: object) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(payload).encode())

    def log_message(self, *args: object) -> None:
        pass


def slo_handler(payload: dict[str, object]) -> type[JsonHandler]:
    class Slo(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's API)
            self.answer(200 if self.path == "/slo" else 404, payload)
    return Slo


def test_promotion_gates_on_every_process(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-ops item 2): a host whose process 1 crashed refuses the
    promotion, naming that process. Fails on the old code because promote.yml read /slo from
    process 0 only (port guildbot_rollout_health_port), which held its SLOs."""
    release = tmp_path / "opt/releases/r1"
    release.mkdir(parents=True)
    (release / ".complete").touch()
    (release / "REVISION").write_text("built_at=2026-11-30T00:00:00Z\n")
    (tmp_path / "opt/current").symlink_to("releases/r1")
    bad = {**GOOD_SLO, "crash_restarts_24h": 1}
    base, servers = serve([slo_handler(GOOD_SLO), slo_handler(bad)])
    try:
        inventory = write_inventory(tmp_path, {"bot-a": {"guildbot_processes": 2}},
                                    guildbot_host_install_dir=str(tmp_path / "opt"),
                                    guildbot_config_health_port=base)
        result = run(tool("ansible-playbook"), str(ROOT / "ansible/promote.yml"),
                     "-i", str(inventory), "-e", "promote_to_inventory=nowhere",
                     "-e", f"guildbot_release_build_dir={tmp_path / 'build'}")
    finally:
        stop(servers)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "PROMOTION REFUSED" in output, output[-3000:]
    assert f"bot-a: process 1 (port {base + 1}): crash_restarts_24h 1 > 0" in output
    assert f"process 0 (port {base})" not in output.split("PROMOTION REFUSED")[1]


# --- reshard -------------------------------------------------------------------------------------
def test_reshard_refuses_a_plan_that_fails_the_shard_check_before_touching_any_host(tmp_path):
    """Issue 12, cluster-ops item 4: resharding the public cluster (4 processes) to 3 shards would
    leave a process without a shard: refused on the controller, no host contacted (they are
    unreachable example names here). Fails on the old code because there was no reshard.yml."""
    inventory = tmp_path / "public"
    shutil.copytree(ROOT / "inventories/public", inventory)
    (inventory / "group_vars/all/vault.yml").unlink()
    result = run(tool("ansible-playbook"), str(ROOT / "ansible/reshard.yml"), "-i", str(inventory),
                 "-e", "guildbot_shard_count=3")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "guildbot shard check: the inventory is refused, nothing was changed" in output
    assert "a process would have no shard" in output, output[-3000:]
    assert "guildbot-public-1" not in output.split("PLAY RECAP")[-1], output[-3000:]


SUPERVISORCTL = """#!/usr/bin/env python3
# Stand-in for supervisorctl: the group guildbot of N programs, their states in a JSON file;
# every start is recorded in the events file.
import json, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
states = json.loads((here / "states.json").read_text())
if sys.argv[1] == "status":
    for name, state in states.items():
        print(f"{name} {state}")
elif sys.argv[1] == "start":
    states[sys.argv[2]] = "RUNNING"
    (here / "states.json").write_text(json.dumps(states))
    with open(here / "events", "a") as events:
        events.write(f"start {sys.argv[2]}\\n")
    print(f"{sys.argv[2]}: started")
"""


def readyz_handler(bin_dir: Path, process: int) -> type[JsonHandler]:
    """Process N's /readyz: 503 until the stand-in started it, then 503 twice more (connecting),
    then 200, each 200 recorded in the events file."""
    polls = [0]

    class Readyz(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 (the handler's API)
            states = json.loads((bin_dir / "states.json").read_text())
            if states[f"guildbot:guildbot-{process}"] == "RUNNING":
                polls[0] += 1
            ready = polls[0] > 2
            if ready:
                with open(bin_dir / "events", "a") as events:
                    events.write(f"ready {process}\n")
            self.answer(200 if ready else 503, {"reasons": [] if ready else ["connecting"]})
    return Readyz


def test_reshard_starts_process_by_process_each_gated_on_its_readyz(tmp_path: Path) -> None:
    """Issue 12, cluster-ops item 4: reshard.yml's start (tasks_from start-each.yml) starts process
    0, waits until its /readyz answers 200, and only then starts process 1 (IDENTIFYs of one
    process at a time). Starting the group at once would record both starts before any ready."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "supervisorctl").write_text(SUPERVISORCTL)
    (bin_dir / "supervisorctl").chmod(0o755)
    (bin_dir / "states.json").write_text(json.dumps(
        {"guildbot:guildbot-0": "STOPPED", "guildbot:guildbot-1": "STOPPED"}))
    base, servers = serve([readyz_handler(bin_dir, 0), readyz_handler(bin_dir, 1)])
    try:
        inventory = write_inventory(tmp_path, {"bot-a": {"guildbot_processes": 2}},
                                    guildbot_service_process_manager="supervisor",
                                    guildbot_config_health_port=base,
                                    guildbot_rollout_ready_delay=1)
        (tmp_path / "play.yml").write_text(yaml.safe_dump([{
            "name": "Start", "hosts": "guildbot", "gather_facts": False,
            "tasks": [{"name": "Start in order", "ansible.builtin.import_role": {
                "name": "guildbot_rollout", "tasks_from": "start-each.yml"}}]}]))
        result = subprocess.run(
            [tool("ansible-playbook"), str(tmp_path / "play.yml"), "-i", str(inventory)],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
            env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                 "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    finally:
        stop(servers)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (bin_dir / "events").read_text().splitlines() == [
        "start guildbot:guildbot-0", "ready 0", "start guildbot:guildbot-1", "ready 1"]


def run_diagnose(tmp_path: Path, inventory: Path) -> None:
    """Run ansible/diagnose.yml on ``inventory`` (runuser stood in by RUNUSER, read-only, without
    the bot); each host's report is left in ``tmp_path/out/HOST.txt``."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/runuser").write_text(RUNUSER)
    (tmp_path / "bin/runuser").chmod(0o755)
    result = subprocess.run(
        [tool("ansible-playbook"), str(ROOT / "ansible/diagnose.yml"), "-i", str(inventory),
         "-e", f"guildbot_rollout_diagnose_dir={tmp_path / 'out'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
             "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# --- diagnose -------------------------------------------------------------------------------------
def test_diagnose_reports_every_process(tmp_path: Path) -> None:
    """Regression (issue 12, cluster-ops item 1): diagnose on a host with two processes reports
    each unit, each process's readiness and /slo, each log and each process's markers. Fails on
    the old code because it only knew guildbot.service, its port and guildbot.log. Run here
    read-only, without the bot (its checks are PROBLEMs; the report's shape is what is tested)."""
    lib = tmp_path / "lib"
    (lib / "guildbot@1").mkdir(parents=True)
    (lib / "guildbot@1/maintenance").write_text("on\n")
    inventory = write_inventory(tmp_path, {"bot-a": {"guildbot_processes": 2}},
                                guildbot_host_state_dir=str(lib),
                                guildbot_host_log_dir=str(tmp_path / "log"),
                                guildbot_host_backup_dir=str(tmp_path / "backups"))
    run_diagnose(tmp_path, inventory)
    report = (tmp_path / "out/bot-a.txt").read_text()
    lines = report.splitlines()
    assert [line.split("(")[-1] for line in lines if line.startswith("service ")] == [
        "guildbot@0.service)", "guildbot@1.service)"]
    assert [line for line in lines if line.startswith("readiness ")] == [
        "readiness PROBLEM process 0 /readyz not 200 (see above)",
        "readiness PROBLEM process 1 /readyz not 200 (see above)"]
    for section in ("readiness of process 0", "slo of process 0", "readiness of process 1",
                    "slo of process 1"):
        assert f"===== {section} =====" in lines
    assert "--- guildbot@0.log" in lines and "--- guildbot@1.log" in lines
    assert f"MAINTENANCE on ({lib}/guildbot@1/maintenance)" in lines
    assert f"{lib}/guildbot@0/maintenance" not in report


def test_diagnose_finds_the_newest_sqlite_backup_of_either_format(tmp_path: Path) -> None:
    """Regression (issue 17, zstd): SQLite backups are now ``.db.zst`` beside an older
    release's ``.db.gz``; diagnose's backup age is the newest of either. Fails on the old code
    because it looked for ``*.db.gz`` only: the day-old gzip backup was the newest it saw, a
    PROBLEM, when a fresh zstd one was there."""
    backups = tmp_path / "backups"
    (backups / "daily").mkdir(parents=True)
    old = backups / "daily/guildbot-20261128T031700Z.db.gz"
    old.write_bytes(b"gz")
    os.utime(old, (0, os.path.getmtime(old) - 100 * 3600))
    new = backups / "on-demand/guildbot-20261130T031700Z.db.zst"
    new.parent.mkdir()
    new.write_bytes(b"zst")
    inventory = write_inventory(tmp_path, {"bot-a": {}},
                                guildbot_host_state_dir=str(tmp_path / "lib"),
                                guildbot_host_log_dir=str(tmp_path / "log"),
                                guildbot_host_backup_dir=str(backups))
    run_diagnose(tmp_path, inventory)
    lines = (tmp_path / "out/bot-a.txt").read_text().splitlines()
    assert [line for line in lines if line.startswith("backups ")] == ["backups OK newest 0 h old"]
    assert f"newest {new}, 0 h old" in lines
