#!/usr/bin/env bash
# Ansible vault password client: prints the vault password for the vault id Ansible asks for.
#   local                      -> inventories/local/.vault-pass (a THROWAWAY password, committed on purpose)
#   beta | expanded | public   -> ${GUILDBOT_VAULT_PASSWORD_DIR:-$HOME/.config/guildbot/vault}/<id>
#                                 (a file the operator supplies, mode 0600, never committed)
# Ansible calls this with: --vault-id <id>
set -euo pipefail

vault_id=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --vault-id) vault_id="${2:-}"; shift 2 ;;
        --vault-id=*) vault_id="${1#--vault-id=}"; shift ;;
        *) shift ;;
    esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$vault_id" in
    local) file="$repo_root/inventories/local/.vault-pass" ;;
    beta|expanded|public) file="${GUILDBOT_VAULT_PASSWORD_DIR:-$HOME/.config/guildbot/vault}/$vault_id" ;;
    *) echo "unknown vault id '$vault_id' (expected local, beta, expanded or public)" >&2; exit 2 ;;
esac

if [ ! -r "$file" ]; then
    echo "no vault password for '$vault_id': put it in $file (or set GUILDBOT_VAULT_PASSWORD_DIR)" >&2
    exit 1
fi
head -n1 "$file"
