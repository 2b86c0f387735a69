#!/usr/bin/env bash
# Builds corepool's Debian package (target/debian/corepool_<version>_<arch>.deb) with cargo-deb:
# the binary, the systemd unit, /etc/corepool samples, the system user's maintainer scripts and
# the man pages (written by `corepool man` from the CLI's clap definition).
#
#   scripts/package.sh                # a release build (what to ship)
#   scripts/package.sh --profile dev  # reuse the debug build `cargo test` made (CI's package test)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [ "${1:-}" = --profile ]; then
  profile=${2:?--profile needs a name}
fi
command -v cargo-deb >/dev/null || { echo "package: cargo-deb is missing (scripts/setup.sh installs it)" >&2; exit 1; }

target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case $profile in
  dev) dir=$target/debug ;;
  *) dir=$target/$profile ;;
esac
if [ "$profile" = dev ]; then
  # The test build's binary as it is; build it if the tests have not.
  [ -x "$dir/corepool" ] || cargo build --locked -p corepool
else
  cargo build --locked --profile "$profile" -p corepool
fi
rm -rf "$dir/man"
"$dir/corepool" man --out-dir "$dir/man"
# cargo-deb warns that the dev profile is not meant for releases: CI packages it only to test
# the package itself (install, unit, removal), and saves a release build; lighter compression
# saves it time too.
fast=()
[ "$profile" = dev ] && fast=(--fast)
cargo deb --locked -p corepool --no-build --profile "$profile" --strip -q "${fast[@]}"
