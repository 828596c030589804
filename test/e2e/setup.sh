#!/usr/bin/env bash
# Install the end-to-end harness (code-server 4.100.3, playwright-core, mocha, @vscode/test-electron) into
# test/e2e/node_modules, offline-safe and idempotent: a second run with an unchanged lockfile does nothing.
# Needs Node 20 (code-server 4.100.x refuses others) and, from apt: chromium ripgrep libkrb5-dev libxkbfile-dev
# libsecret-1-dev libx11-dev build-essential (installed here when missing and we are root).
set -euo pipefail
cd "$(dirname "$0")"
export ONNXRUNTIME_NODE_INSTALL=skip

STAMP=node_modules/.inheritune-e2e-setup
want=$(sha256sum package-lock.json | cut -d' ' -f1)
# Installed = our stamp matches the lockfile, or npm's own hidden lockfile lists the same package versions (someone
# ran npm install/ci by hand); and code-server's native parts are there.
in_sync() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && return 0
  [ -f node_modules/.package-lock.json ] && node -e '
    const a = require("./package-lock.json").packages, b = require("./node_modules/.package-lock.json").packages;
    const v = (p) => Object.fromEntries(Object.entries(p).filter(([k]) => k).map(([k, x]) => [k, x.version]));
    process.exit(JSON.stringify(v(a)) === JSON.stringify(v(b)) ? 0 : 1);' 2>/dev/null
}
ready() {
  in_sync &&
    [ -e node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg ] &&
    [ -e node_modules/code-server/lib/vscode/node_modules/node-pty/build/Release/pty.node ] &&
    [ -e node_modules/playwright-core/package.json ] && [ -e node_modules/mocha/package.json ]
}
if ready; then
  echo "test/e2e: dependencies up to date"
  exit 0
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then
  echo "test/e2e/setup.sh: code-server 4.100.3 needs Node 20, this is $(node -v)" >&2
  exit 1
fi

APT=(chromium ripgrep libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev build-essential)
missing=()
for p in "${APT[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test/e2e/setup.sh: missing apt packages: ${missing[*]}" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# code-server 4.100.x pulls @vscode/ripgrep@1.15.11, whose postinstall downloads rg from GitHub unless this cache
# holds the archive: seed it with Debian's rg.
RG_CACHE="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11"
RG_TGZ="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -s "$RG_TGZ" ]; then
  mkdir -p "$RG_CACHE/x"
  cp "$(command -v rg)" "$RG_CACHE/x/rg"
  tar czf "$RG_TGZ.tmp" -C "$RG_CACHE/x" rg && mv "$RG_TGZ.tmp" "$RG_TGZ"
  rm -rf "$RG_CACHE/x"
fi

# .npmrc beside this script: unsafe-perm=true (code-server's postinstall as root) and yes=true (node-pty's npx node-gyp).
LOG=${TMPDIR:-/tmp}/inheritune-e2e-npm-ci.log
t0=$SECONDS
if ! npm ci --no-audit --no-fund --foreground-scripts >"$LOG" 2>&1; then
  tail -40 "$LOG" >&2
  echo "test/e2e/setup.sh: npm ci failed (full log: $LOG)" >&2
  exit 1
fi
echo "$want" >"$STAMP"
if ! ready; then
  echo "test/e2e/setup.sh: npm ci finished but code-server's native modules or rg are missing (log: $LOG)" >&2
  exit 1
fi
echo "test/e2e: npm ci in $((SECONDS - t0)) s"
