#!/usr/bin/env bash
# The local stage: the real site playbook on a Debian 12 systemd container on this machine, with
# the fake Discord and a fake alert webhook on the container's loopback.
#   scripts/local-stage.sh up     create/start the container guildbot-local, start the fakes, deploy
#   scripts/local-stage.sh down   remove the container
# Then: podman exec guildbot-local /usr/local/sbin/guildbot-cli health
#       podman exec -w /opt/guildbot-fakes guildbot-local /opt/guildbot-fakes/venv/bin/python \
#           -m tests.fake_discord invoke --url http://127.0.0.1:8765 --guild 0 --member 1 status
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
name=guildbot-local
venv="${GUILDBOT_VENV:-$repo_root/.venv}"
export PATH="$venv/bin:$PATH"
say() { printf 'local-stage: %s\n' "$*"; }

case "${1:-up}" in
    up)
        scripts/prepare-podman.sh
        image="$(scripts/build-test-image.sh | tail -n1)"
        if [ "$(podman inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" != true ]; then
            podman rm -f "$name" >/dev/null 2>&1 || true
            say "starting container $name from $image"
            podman run -d --name "$name" --hostname "$name" --systemd=always \
                --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 "$image" /sbin/init >/dev/null
        else
            say "container $name is running"
        fi
        export ANSIBLE_CONFIG="$repo_root/ansible.cfg"
        export ANSIBLE_VAULT_IDENTITY_LIST="local@$repo_root/scripts/vault-pass-client.sh"
        say "starting the fake Discord and the fake webhook"
        ansible-playbook -i inventories/local molecule/shared/prepare.yml \
            -e guildbot_release_source_dir="$repo_root" -e guildbot_release_build_dir="$repo_root/build"
        say "deploying with playbook.yml -i inventories/local"
        ansible-playbook -i inventories/local playbook.yml
        say "up: podman exec $name /usr/local/sbin/guildbot-cli health"
        ;;
    down)
        say "removing container $name"
        podman rm -f "$name" >/dev/null 2>&1 || true
        ;;
    *)
        echo "usage: $0 up|down" >&2
        exit 64
        ;;
esac
