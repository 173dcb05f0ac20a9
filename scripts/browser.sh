#!/usr/bin/env bash
# browser.sh — install what the web dashboard's end-to-end tests
# (internal/web/e2e_test.go) drive a real browser with:
#   - Debian's chromium package (apt-get), when no chromium is on PATH and
#     this runs as root or with passwordless sudo;
#   - the npm package playwright-core, pinned to an exact version in
#     scripts/e2e/package.json with every dependency fixed by the committed
#     scripts/e2e/package-lock.json (integrity hashes checked by npm),
#     installed with `npm ci --ignore-scripts` into scripts/e2e/node_modules
#     (gitignored). playwright-core downloads no browser of its own.
#
# Idempotent and non-interactive (fine with CI=true and no stdin). Exits
# non-zero when something cannot be installed, saying what. With
# --if-possible (what `make test` passes) a machine where chromium cannot be
# installed (not root, no passwordless sudo) only gets a warning and the
# browser tests skip, saying so; under CI (CI set) it is still an error:
# CI runs as root with apt reachable, so the browser tests must run there.
# Needs node >= 20 and npm.
set -euo pipefail

lenient=0
case "${1:-}" in
--if-possible) lenient=1 ;;
"") ;;
*)
	echo "usage: $0 [--if-possible]" >&2
	exit 2
	;;
esac
if [[ -n "${CI:-}" ]]; then
	lenient=0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/scripts/e2e"

find_chromium() {
	for c in chromium chromium-browser; do
		if command -v "$c" >/dev/null; then
			command -v "$c"
			return 0
		fi
	done
	return 1
}

if ! bin=$(find_chromium); then
	sudo=""
	if [[ $(id -u) != 0 ]]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo="sudo -n"
		else
			echo "browser.sh: chromium is not installed, and installing it needs root (apt-get install chromium)" >&2
			if ((lenient)); then
				echo "browser.sh: the dashboard's browser tests will be skipped on this machine" >&2
				exit 0
			fi
			exit 1
		fi
	fi
	echo "browser.sh: installing Debian's chromium (apt-get)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq </dev/null
	$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core </dev/null >/dev/null
	bin=$(find_chromium) || { echo "browser.sh: apt-get installed chromium, but it is not on PATH" >&2; exit 1; }
fi
echo "browser.sh: $("$bin" --version 2>/dev/null || echo chromium): $bin" >&2

command -v node >/dev/null || { echo "browser.sh: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "browser.sh: npm is required" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 20)); then
	echo "browser.sh: node $(node --version) is too old; playwright-core needs >= 20" >&2
	exit 1
fi

# The stamp records the lock file the tree was installed from.
stamp="$dir/node_modules/.medledger-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dir/node_modules/playwright-core/package.json" ]]; then
	echo "browser.sh: playwright-core already installed in $dir/node_modules" >&2
	exit 0
fi
echo "browser.sh: installing playwright-core (npm ci)" >&2
(cd "$dir" && npm ci --ignore-scripts --no-fund --no-audit --loglevel=error </dev/null)
echo "$want" >"$stamp"
echo "playwright-core $(node -p 'require(process.argv[1]).version' "$dir/node_modules/playwright-core/package.json"): $dir/node_modules" >&2
