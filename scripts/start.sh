#!/usr/bin/env bash
# npm start: the platform Worker and the demo tenant function under one `wrangler dev`, with local Queues, Durable
# Objects (SQLite) and R2 persisted under .wrangler/. Extra arguments go to wrangler (e.g. `npm start -- --port 9000`).
set -euo pipefail
cd "$(dirname "$0")/.."

export WRANGLER_SEND_METRICS=false
# Local span recording costs 2-4x on Durable Object writes and grows a SQLite file without bound under load.
export X_LOCAL_OBSERVABILITY=false

if [ ! -f .dev.vars ]; then
  token="dev-admin-$(node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))')"
  cat > .dev.vars <<VARS
# Local settings for npm start (not committed). Edit freely; an existing file is always honoured.
ADMIN_TOKEN=$token
# Local tenant functions and webhook receivers live on http://localhost, so allow them here (never in production).
ALLOW_PRIVATE_TARGETS=true
VARS
  chmod 600 .dev.vars
  # The token itself stays in the file: never in this terminal's scrollback or a captured server log.
  echo "Created .dev.vars with a new ADMIN_TOKEN (read it with: grep ADMIN_TOKEN .dev.vars)"
fi

args=("$@")
has_port=false
for arg in "${args[@]+"${args[@]}"}"; do
  case "$arg" in --port|--port=*) has_port=true ;; esac
done
$has_port || args+=(--port 8787)

# The dashboard's static files (build/dashboard, the [assets] directory), fresh from dashboard/.
node scripts/build-dashboard.mjs
exec wrangler dev -c wrangler.toml -c workers/demo-function/wrangler.toml --log-level warn "${args[@]}"
