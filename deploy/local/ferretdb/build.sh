#!/usr/bin/env bash
# Builds FerretDB (MongoDB wire protocol on SQLite) from its Go module into $1.
# The module download lacks build/version/version.txt, without which the binary panics at
# start, so the build runs on a writable copy of the module with that file added, and with the
# patches beside this script applied (each explains itself in its header).
set -euo pipefail

version="v1.24.2"
out="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export GOFLAGS=-mod=mod
src="$(cd "$work" && go mod download -json "github.com/FerretDB/FerretDB@${version}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
cp -r "$src" "$work/ferretdb"
chmod -R u+w "$work/ferretdb"
echo "$version" > "$work/ferretdb/build/version/version.txt"
for fix in "$(dirname "$0")"/*.patch; do
  patch --quiet --strip=1 --directory="$work/ferretdb" < "$fix"
done
mkdir -p "$(dirname "$out")"
(cd "$work/ferretdb" && go build -trimpath -o "$out.tmp" ./cmd/ferretdb)
mv "$out.tmp" "$out"
# Print the first line only, without a pipe: `| head -n 1` closes the pipe while the binary still
# writes, and under pipefail that SIGPIPE (exit 141) failed a CI run.
version_lines="$("$out" --version)"
echo "${version_lines%%$'\n'*}"
