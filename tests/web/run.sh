#!/usr/bin/env bash
# Runs one node script of tests/web (browser_test.mjs, openapi_check.mjs) with its arguments.
# Skips (77) when node or the npm dependencies (scripts/test.sh runs `npm ci` here) are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null 2>&1 || { echo "node not installed: skipped"; exit 77; }
[ -d "$here/node_modules" ] || { echo "run 'npm ci' in tests/web first: skipped"; exit 77; }
script=$1
shift
exec node "$here/$script" "$@"
