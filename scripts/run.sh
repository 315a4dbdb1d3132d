#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs sanjogd on
# config/sanjog.example.json with the embedded (SQLite) bus.
# Local secrets are generated once into var/secrets/ (mode 0600) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

umask 077
mkdir -p var/secrets
secret() {  # secret FILE GENERATOR...
  local f="var/secrets/$1"; shift
  [ -s "$f" ] || "$@" >"$f"
  cat "$f"
}
export SANJOG_ADMIN_TOKEN="$(secret admin_token openssl rand -hex 24)"
export SANJOG_API_KEY="$(secret api_key openssl rand -hex 24)"
export SANJOG_INBOX_SECRET="$(secret inbox_secret sh -c 'printf "whsec_%s\n" "$(openssl rand -base64 32)"')"
export SANJOG_CRM_SECRET="$(secret crm_secret sh -c 'printf "whsec_%s\n" "$(openssl rand -base64 32)"')"

cat <<MSG
sanjogd: public listener http://127.0.0.1:8080 (webhooks, /api/v1/messages)
         admin listener  http://127.0.0.1:9464 (/metrics, /admin/v1/...)
         admin token:    cat var/secrets/admin_token   (API key: var/secrets/api_key)
         stop with Ctrl-C (SIGTERM drains and exits 0)
MSG
exec "${SANJOG_BUILD_DIR:-build}/bin/sanjogd" --config config/sanjog.example.json
