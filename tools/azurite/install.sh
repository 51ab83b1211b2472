#!/bin/sh
# Installs Azurite, Microsoft's Azure Storage emulator (pinned by package-lock.json beside this script),
# into .tools/azurite for the Table-state and Function tests; `make test` runs it.
# It never fails the build: without node and npm, or when npm cannot install, it says why in one line
# and those tests skip with that reason (CI sets MISP_BRIDGE_REQUIRE_AZURITE=1 so that they fail instead).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dest="$root/.tools/azurite"
bin="$dest/node_modules/.bin/azurite-table"
if [ -x "$bin" ] && cmp -s "$here/package-lock.json" "$dest/package-lock.json"; then
  exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "azurite: not installed: node and npm are not on PATH (the Table-state and Function tests will skip)" >&2
  exit 0
fi
mkdir -p "$dest" && cp "$here/package.json" "$here/package-lock.json" "$dest/" || exit 0
if (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >"$dest/npm.log" 2>&1); then
  echo "azurite: installed $("$bin" --version) in .tools/azurite"
else
  reason=$(grep -m1 -iE "npm (error|ERR!)" "$dest/npm.log" | sed -E 's/^npm (error|ERR!) *//')
  echo "azurite: not installed: npm ci failed (${reason:-see .tools/azurite/npm.log}); the Table-state and Function tests will skip" >&2
  rm -f "$dest/package-lock.json"  # so that the next make tries again
fi
exit 0
