#!/usr/bin/env bash
# web-assets.sh [--check] — vendor the web dashboard's front-end files into
# internal/web/static/vendor/, where go:embed puts them into the binary (no
# CDN, no front-end server at run time).
#
# Downloads pinned npm packages with `npm pack` (the npm registry is the only
# source needed), checks each tarball against a pinned SHA-256 and copies the
# built files the dashboard serves, with the packages' licences:
#
#   htmx.org@2.0.8  dist/htmx.min.js                     (0BSD)
#   uplot@1.6.32    dist/uPlot.iife.min.js, uPlot.min.css (MIT)
#
# It writes internal/web/static/vendor/MANIFEST: one line per file, "sha256
# file package@version", which a Go test (internal/web) checks the embedded
# files against. With --check it changes nothing: it fetches again and fails
# unless the committed files and MANIFEST are exactly what it would write.
# Non-interactive (fine with CI=true and no stdin).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/internal/web/static/vendor"
check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

# name@version  tarball-sha256  files (path in the package → vendored name)
packages=(
	"htmx.org@2.0.8 51351b2ac4b3bc065692a4dd1349a82f90bf7c526134937ccb25d3932c8ce954 dist/htmx.min.js:htmx.min.js LICENSE:LICENSE-htmx.txt"
	"uplot@1.6.32 4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d dist/uPlot.iife.min.js:uPlot.iife.min.js dist/uPlot.min.css:uPlot.min.css LICENSE:LICENSE-uplot.txt"
)

command -v npm >/dev/null || { echo "web-assets.sh: npm is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/vendor"
manifest="$tmp/vendor/MANIFEST"
echo "# Written by scripts/web-assets.sh; checked by internal/web tests. sha256 file package@version" >"$manifest"

for p in "${packages[@]}"; do
	read -r spec sum files <<<"$p"
	echo "web-assets.sh: fetching $spec" >&2
	tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts --no-fund --no-audit "$spec" </dev/null | tail -n 1)
	got=$(sha256sum "$tmp/$tgz" | cut -d' ' -f1)
	if [[ "$got" != "$sum" ]]; then
		echo "web-assets.sh: $spec: tarball SHA-256 is $got, want $sum" >&2
		exit 1
	fi
	x="$tmp/x-${tgz%.tgz}"
	mkdir "$x"
	tar -xzf "$tmp/$tgz" -C "$x" --no-same-owner --no-same-permissions
	for f in $files; do
		src=${f%%:*}
		dst=${f##*:}
		cp "$x/package/$src" "$tmp/vendor/$dst"
		chmod 0644 "$tmp/vendor/$dst"
		echo "$(sha256sum "$tmp/vendor/$dst" | cut -d' ' -f1) $dst $spec" >>"$manifest"
	done
done

if ((check)); then
	if ! diff -r "$tmp/vendor" "$out" >"$tmp/diff" 2>&1; then
		echo "web-assets.sh: internal/web/static/vendor differs from the pinned npm packages; run scripts/web-assets.sh:" >&2
		head -n 40 "$tmp/diff" >&2
		exit 1
	fi
	echo "web-assets.sh: internal/web/static/vendor matches the pinned npm packages" >&2
	exit 0
fi
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp/vendor" "$out"
echo "web-assets.sh: wrote $out" >&2
cat "$manifest" >&2
