#!/usr/bin/env bash
# CI's package test: builds the .deb from the debug build `cargo test` already made
# (scripts/package.sh --profile dev: no second compile), then installs it with dpkg, starts the
# service from its unit against a test cluster, checks it serves, reloads and stops it, and
# purges it (cli/tests/package.rs). Needs root. Prints how long each part took.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  # CI runs as root; a developer's unprivileged run of scripts/test.sh says so and goes on.
  echo "test-package: SKIPPED: installing a package needs root (CI runs it as root)" >&2
  exit 0
fi
start=$(date +%s)
scripts/package.sh --profile dev
built=$(date +%s)
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
deb=$(ls -t "$target"/debian/corepool_*.deb | head -n 1)
# The workspace's named target: the build `cargo test --workspace` made, nothing recompiled.
COREPOOL_DEB="$deb" cargo test --workspace --locked --test package -- --ignored --nocapture
done=$(date +%s)
echo "test-package: .deb built in $((built - start)) s, installed/served/purged in $((done - built)) s ($deb)"
