#!/usr/bin/env bash
# interop.sh — install the independent FHIR client that
# internal/api/fhirapi/interop_test.go drives the server with: the npm
# package fhir-kit-client, pinned to an exact version in
# scripts/interop/package.json, with every dependency fixed by the committed
# scripts/interop/package-lock.json (integrity hashes checked by npm).
#
# Installs with `npm ci` into scripts/interop/node_modules (gitignored),
# without running any package's install scripts. Idempotent: when
# node_modules already holds what the current lock file names, nothing is
# fetched. Non-interactive (fine with CI=true and no stdin). Needs node >= 20
# and npm.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/scripts/interop"

command -v node >/dev/null || { echo "interop.sh: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "interop.sh: npm is required" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 20)); then
	echo "interop.sh: node $(node --version) is too old; fhir-kit-client needs >= 20" >&2
	exit 1
fi

# The stamp records the lock file the tree was installed from.
stamp="$dir/node_modules/.medledger-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dir/node_modules/fhir-kit-client/package.json" ]]; then
	echo "interop.sh: fhir-kit-client already installed in $dir/node_modules" >&2
	exit 0
fi

echo "interop.sh: installing fhir-kit-client (npm ci)" >&2
(cd "$dir" && npm ci --ignore-scripts --no-fund --no-audit --loglevel=error </dev/null)
echo "$want" >"$stamp"
echo "fhir-kit-client $(node -p 'require(process.argv[1]).version' "$dir/node_modules/fhir-kit-client/package.json"): $dir/node_modules"
