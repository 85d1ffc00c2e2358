#!/usr/bin/env bash
# The local stage: the real site playbook on a Debian 12 systemd container on this machine.
#   scripts/local-stage.sh up     create (or reuse) the container guildbot-local, deploy, and play
#                                 a scripted session across two guilds against the fake Discord
#                                 then forward the dashboard to the host's loopback and print its URL
#   scripts/local-stage.sh down   stop the forwarder, remove the container
# Without a real token the bot talks to the fake Discord (and a fake alert webhook) on the
# container's loopback. With one -- GUILDBOT_TOKEN in the environment, or a real token in the
# local vault -- the same playbook deploys against Discord itself, and the script says so.
# Every step prints what it does and how long it took; a failure names the step, the cause
# (the last lines of its log) and where the full log is.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
name=guildbot-local
venv="${GUILDBOT_VENV:-$repo_root/.venv}"
export PATH="$venv/bin:$PATH"
logs="$repo_root/build/local-stage"
mkdir -p "$logs"
export ANSIBLE_CONFIG="$repo_root/ansible.cfg"
export ANSIBLE_VAULT_IDENTITY_LIST="local@$repo_root/scripts/vault-pass-client.sh"
fakes=/opt/guildbot-fakes

say() { printf 'local-stage: %s\n' "$*"; }

# step NAME LOGFILE FIX COMMAND...: run quietly into LOGFILE, report time, explain failures.
step() {
    local title="$1" log="$2" fix="$3"; shift 3
    local start=$SECONDS
    say "$title ..."
    if "$@" >"$log" 2>&1; then
        say "$title: ok ($((SECONDS - start))s)"
    else
        local rc=$?
        say "$title: FAILED after $((SECONDS - start))s (exit $rc); last lines of $log:" >&2
        tail -n 15 "$log" | sed 's/^/    /' >&2
        say "fix: $fix" >&2
        exit "$rc"
    fi
}

real_token_mode() {
    # A real token wins over the throwaway one: from the environment, or from the local vault
    # when its token is not the fake's (checked without ever printing it).
    [ -n "${GUILDBOT_TOKEN:-}" ] && return 0
    ! ansible-vault view inventories/local/group_vars/all/vault.yml 2>/dev/null \
        | grep -Eq '^vault_guildbot_discord_token: .*fake'
}

container_running() {
    [ "$(podman inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" = true ]
}

start_container() {
    local image
    image="$(scripts/build-test-image.sh | tail -n1)"
    if container_running; then
        echo "container $name is already running (reused)"
        return
    fi
    podman rm -f "$name" >/dev/null 2>&1 || true
    podman run -d --name "$name" --hostname "$name" --systemd=always \
        --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 "$image" /sbin/init
    for _ in $(seq 1 60); do
        state="$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)"
        case "$state" in running|degraded) echo "systemd: $state"; return ;; esac
        sleep 1
    done
    echo "systemd in $name did not finish booting" >&2
    return 1
}

deploy() {
    local extra=()
    if [ -n "${GUILDBOT_TOKEN:-}" ]; then
        # Real Discord: the token goes through a 0600 vars file, never the command line.
        local vars="$logs/real-discord.vars.yml"
        ( umask 077; printf 'guildbot_discord_token: "%s"\nguildbot_api_base: %s\nguildbot_gateway_url: %s\n' \
            "$GUILDBOT_TOKEN" https://discord.com/api/v10 wss://gateway.discord.gg/ >"$vars" )
        extra=(-e "@$vars")
    fi
    ansible-playbook -i inventories/local playbook.yml "${extra[@]}"
    local rc=$?
    rm -f "$logs/real-discord.vars.yml"
    return $rc
}

bot_pid() { podman exec "$name" systemctl show guildbot -p MainPID --value; }

# The dashboard on the host: scripts/dashboard_forward.py listens on the host's 127.0.0.1 and
# connects into the container's loopback, where the bot's health server stays.
forward_pid="$logs/dashboard-forward.pid"
forward_port="$logs/dashboard-forward.port"

stop_forwarder() {
    local pid
    pid="$(cat "$forward_pid" 2>/dev/null || true)"
    # Only our own forwarder: the pid file may be stale and the pid reused.
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null \
            | grep -q 'scripts/dashboard_forward.py'; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "stopped the dashboard forwarder (pid $pid)"
    fi
    rm -f "$forward_pid" "$forward_port"
}

start_forwarder() {
    local container_pid
    container_pid="$(podman inspect -f '{{.State.Pid}}' "$name")"
    stop_forwarder
    setsid python3 scripts/dashboard_forward.py --pid "$container_pid" \
        --port-file "$forward_port" </dev/null >"$logs/dashboard-forward.log" 2>&1 &
    echo $! >"$forward_pid"
    for _ in $(seq 1 50); do
        if [ -s "$forward_port" ]; then cat "$logs/dashboard-forward.log"; return 0; fi
        kill -0 "$(cat "$forward_pid")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$logs/dashboard-forward.log"
    return 1
}

up() {
    local started=$SECONDS mode=fake
    real_token_mode && mode=real
    step "prepare podman (packages, cgroup layout)" "$logs/prepare-podman.log" \
        "run as root on Debian 12; see the log for the apt or mount error" scripts/prepare-podman.sh
    step "create or reuse the systemd container $name" "$logs/container.log" \
        "check 'podman ps -a' and 'podman logs $name'; './run down' starts over" start_container
    if [ "$mode" = fake ]; then
        say "no real token configured: the bot will talk to the fake Discord inside the container"
        step "start the fake Discord and the fake alert webhook" "$logs/fakes.log" \
            "see the log; 'podman exec $name journalctl -u fake-discord' shows the fake's output" \
            ansible-playbook -i inventories/local molecule/shared/prepare.yml \
            -e guildbot_release_source_dir="$repo_root" \
            -e guildbot_release_build_dir="$repo_root/build"
    else
        say "a real token is configured: deploying against Discord itself (no fake, no scripted session)"
    fi
    step "deploy with ansible-playbook playbook.yml -i inventories/local" "$logs/playbook.log" \
        "read $logs/playbook.log for the failed task; the inventory is inventories/local" deploy
    say "playbook recap: $(grep -E '^guildbot-local +:' "$logs/playbook.log" | sed 's/  */ /g')"
    step "wait for the bot to be ready (/readyz)" "$logs/ready.log" \
        "'podman exec $name journalctl -u guildbot -n 50' shows why it is not ready" \
        bash -c "for i in \$(seq 1 60); do podman exec $name /usr/local/sbin/guildbot-cli health --ready && exit 0; sleep 1; done; exit 1"
    say "bot main PID: $(bot_pid)"
    if [ "$mode" = fake ]; then
        step "play the scripted session across two guilds" "$logs/transcript.txt" \
            "the transcript shows which command got no answer" \
            podman exec -i "$name" python3 - --url http://127.0.0.1:8765 <scripts/local_session.py
        say "transcript:"
        sed 's/^/    /' "$logs/transcript.txt"
    fi
    say "health and SLO:"
    podman exec "$name" /usr/local/sbin/guildbot-cli health --slo | python3 -c '
import json, sys
slo = json.load(sys.stdin)["body"]
w = slo["window"]
print("    ready=%s uptime=%.0fs restarts_24h=%s" % (slo["ready"], slo["uptime_seconds"],
                                                     slo["restarts_24h"]))
print("    last 5 min: %d commands, error rate %.2f%%, avg %.1f ms, p95 %.1f ms" % (
    w["commands"], 100 * w["error_rate"], w["avg_latency_ms"], w["p95_latency_ms"]))'
    step "forward the dashboard to the host's loopback" "$logs/forward.log" \
        "see $logs/dashboard-forward.log (the forwarder needs root, like podman)" start_forwarder
    local url="http://127.0.0.1:$(cat "$forward_port")"
    say "dashboard: $url/dashboard"
    say "    also $url/slo, $url/metrics, $url/readyz (forwarded to the bot's 127.0.0.1:8710 in the container; ./run down stops it)"
    say "logs: podman exec $name journalctl -u guildbot -n 50   |   podman exec $name tail -f /var/log/guildbot/guildbot.log"
    say "step logs in ${logs#"$repo_root"/}/; tear down with ./run down"
    say "up in $((SECONDS - started))s ($mode Discord)"
}

case "${1:-up}" in
    up) up ;;
    down)
        start=$SECONDS
        stop_forwarder
        if podman container exists "$name" 2>/dev/null; then
            podman rm -f "$name" >/dev/null
            say "removed container $name ($((SECONDS - start))s)"
        else
            say "no container $name: nothing to remove"
        fi
        ;;
    *)
        echo "usage: $0 up|down" >&2
        exit 64
        ;;
esac
