#!/usr/bin/env bash
# Makes a fresh machine of this kind (Debian 12) ready for `npm run demo` or `npm test`, or
# says exactly what to run: the Debian packages and programs (scripts/install-system-deps.sh),
# the npm dependencies, and for the tests the local services (scripts/ensure-services.sh).
#
# usage: prepare-machine.sh --for demo|test
#   demo: installs missing packages when run as root (the demo's promise: it installs what
#         is missing); services are the demo's own business (it starts and stops them).
#   test: installs missing packages only as root with CI=true (as .ci/run does); otherwise
#         names them and the command, and fails. Starts PostgreSQL, RabbitMQ and MariaDB
#         if they are down (scripts/ensure-services.sh).
# Quick (about a second) when everything is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
purpose=""
case "${1:-}:${2:-}" in
  --for:demo) purpose=demo ;;
  --for:test) purpose=test ;;
  *) echo "usage: prepare-machine.sh --for demo|test" >&2; exit 2 ;;
esac
say() { echo "prepare-machine: $*"; }
fail() {
  echo "prepare-machine: $*" >&2
  exit 1
}

# 1. Debian packages and the programs the service, the tests and the guest call.
if ! report=$(bash scripts/install-system-deps.sh --check 2>&1); then
  if [ "$(id -u)" = 0 ] && { [ "$purpose" = demo ] || [ "${CI:-}" = true ]; }; then
    say "$report"
    say "installing them: scripts/install-system-deps.sh"
    bash scripts/install-system-deps.sh
  else
    how="sudo bash scripts/install-system-deps.sh"
    [ "$purpose" = test ] && [ "$(id -u)" = 0 ] && how="bash scripts/install-system-deps.sh (or CI=true npm test, which runs it)"
    fail "$report
prepare-machine: run: $how"
  fi
else
  say "$report"
fi

# 2. npm dependencies (a fresh clone has none).
if [ ! -d node_modules ]; then
  say "node_modules is absent: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 3. The services the tests talk to.
if [ "$purpose" = test ]; then
  if ! bash scripts/ensure-services.sh; then
    fail "the tests need PostgreSQL (127.0.0.1:5432, trust), RabbitMQ (127.0.0.1:5672, guest) and MariaDB (127.0.0.1:3306, root): start them (as root: bash scripts/ensure-services.sh), then npm test again"
  fi
fi
