#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the store contract suite and
# the end-to-end suite, on SQLite always and on PostgreSQL when one is
# reachable (FRONTDESK_TEST_POSTGRES_URL, or the local server on 5432).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_reachable() {
  # host:port from a postgres:// URL; default 127.0.0.1:5432.
  local rest host port
  rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}
  host=${rest%%:*}; port=${rest##*:}
  [ "$port" = "$rest" ] && port=5432
  [ -n "$host" ] || host=127.0.0.1
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

if [ -z "${FRONTDESK_TEST_POSTGRES_URL:-}" ]; then
  if pg_reachable "postgres://127.0.0.1:5432"; then
    export FRONTDESK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
  fi
fi

if [ -n "${FRONTDESK_TEST_POSTGRES_URL:-}" ]; then
  if ! pg_reachable "$FRONTDESK_TEST_POSTGRES_URL"; then
    echo "FRONTDESK_TEST_POSTGRES_URL is set but PostgreSQL does not answer there" >&2
    exit 1
  fi
  echo "PostgreSQL suite: on ($FRONTDESK_TEST_POSTGRES_URL)"
  # Each test creates its own database; drop those of earlier runs.
  if command -v psql >/dev/null 2>&1; then
    psql "$FRONTDESK_TEST_POSTGRES_URL" -Atc \
      "SELECT datname FROM pg_database WHERE datname LIKE 'frontdesk_test_%'" 2>/dev/null |
      while read -r db; do
        psql "$FRONTDESK_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
      done
  fi
else
  echo "PostgreSQL suite: SKIPPED (no PostgreSQL on 127.0.0.1:5432 and FRONTDESK_TEST_POSTGRES_URL unset)"
fi

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "Browser test: on (/usr/bin/chromium, /usr/bin/chromedriver; screenshots in target/screenshots/)"
elif [ "${FRONTDESK_TEST_BROWSER:-}" = required ]; then
  echo "Browser test: REQUIRED but chromium/chromedriver are not installed; it will fail" >&2
else
  echo "Browser test: SKIPPED (chromium/chromedriver not installed: apt-get install chromium chromium-driver)"
fi

# axe-core (npm) for the accessibility test, outside the tree; it runs in
# the browser above.
axe_js="${FRONTDESK_TEST_AXE:-$HOME/.cache/frontdesk-axe/node_modules/axe-core/axe.min.js}"
if [ ! -f "$axe_js" ] && [ -z "${FRONTDESK_TEST_AXE:-}" ] && command -v npm >/dev/null 2>&1; then
  npm install --prefix "$HOME/.cache/frontdesk-axe" --no-audit --no-fund --loglevel=error axe-core@4 \
    >/dev/null 2>&1 || echo "warning: npm install axe-core failed" >&2
fi
if [ -f "$axe_js" ]; then
  echo "Accessibility test (axe-core in the browser, light and dark): on ($axe_js)"
elif [ -n "${FRONTDESK_TEST_AXE:-}" ]; then
  echo "Accessibility test: REQUIRED (FRONTDESK_TEST_AXE) but $axe_js is missing; it will fail" >&2
else
  echo "Accessibility test: SKIPPED (npm install --prefix ~/.cache/frontdesk-axe axe-core@4)"
fi

if [ -x /usr/sbin/nginx ]; then
  echo "Deployment test (nginx in front of the nodes, deploy/): on"
elif [ "${FRONTDESK_TEST_NGINX:-}" = required ] || [ "${CI:-}" = true ]; then
  echo "Deployment test: REQUIRED but nginx is not installed; it will fail" >&2
else
  echo "Deployment test (nginx in front of the nodes): SKIPPED (apt-get install nginx)"
fi

if [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ] && [ -x /usr/bin/ldapadd ]; then
  echo "LDAP tests (a private OpenLDAP slapd per test): on"
elif [ "${FRONTDESK_TEST_LDAP:-}" = required ] || [ "${CI:-}" = true ]; then
  echo "LDAP tests: REQUIRED but slapd/ldap-utils are not installed; they will fail" >&2
else
  echo "LDAP tests: SKIPPED (apt-get install slapd ldap-utils)"
fi

if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "Mail tests (real SMTP server, aiosmtpd): on"
elif [ "${FRONTDESK_TEST_SMTP:-}" = required ]; then
  echo "Mail tests: REQUIRED but aiosmtpd is not installed; they will fail" >&2
else
  echo "Mail tests (real SMTP server): SKIPPED (python3 -m pip install aiosmtpd)"
fi

if python3 -c 'import joserfc' >/dev/null 2>&1; then
  echo "DPoP script test (joserfc): on"
elif [ "${FRONTDESK_TEST_PYTHON:-}" = required ]; then
  echo "DPoP script test: REQUIRED but joserfc is not installed; it will fail" >&2
else
  echo "DPoP script test (joserfc): SKIPPED (python3 -m pip install joserfc)"
fi

# Interop with an OpenID Certified RP library (openid-client, Node.js) and
# a DPoP client (oauth4webapi).
if command -v npm >/dev/null 2>&1 &&
  { [ ! -d interop/node/node_modules/openid-client ] || [ ! -d interop/node/node_modules/oauth4webapi ]; }; then
  npm ci --prefix interop/node --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
    echo "warning: npm ci in interop/node failed" >&2
fi
if [ -d interop/node/node_modules/openid-client ] && [ -d interop/node/node_modules/oauth4webapi ] &&
  command -v node >/dev/null 2>&1; then
  echo "Node interop tests (openid-client, oauth4webapi DPoP): on"
else
  echo "Node interop tests (openid-client, oauth4webapi DPoP): SKIPPED (needs Node.js and npm ci in interop/node)"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ -z "${FRONTDESK_TEST_POSTGRES_URL:-}" ]; then
  echo "NOTE: the PostgreSQL suite was skipped; only SQLite was tested."
fi
# One closing line for the whole run (cargo ends on the last crate's doc tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"

exit "$status"
