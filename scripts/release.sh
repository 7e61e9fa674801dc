#!/usr/bin/env bash
# release.sh — static kinspect binaries for the boards and hosts it runs on.
#
#   scripts/release.sh [OUTDIR] [TARGET...]
#     OUTDIR  default dist/
#     TARGET  GOOS/GOARCH[/GOARM]; default: linux/amd64 linux/arm64
#             linux/arm/7 (Raspberry Pi 2 and later on a 32-bit OS)
#             linux/arm/6 (Raspberry Pi 1 and Zero)
#
# One static binary per target (CGO_ENABLED=0: no libc, copy it anywhere),
# stamped with the version (git describe) that `kinspect version` prints,
# and a SHA256SUMS file. `make release` runs this with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
OUT=${1:-dist}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(linux/amd64 linux/arm64 linux/arm/7 linux/arm/6)
VERSION=${KINSPECT_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
mkdir -p "$OUT"
names=()
for t in "${TARGETS[@]}"; do
	IFS=/ read -r os arch arm <<<"$t"
	name=kinspect-$os-$arch${arm:+v$arm}
	echo "release: $name ($VERSION)" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=$arm go build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" -o "$OUT/$name" ./cmd/kinspect
	names+=("$name")
done
(cd "$OUT" && sha256sum "${names[@]}" >SHA256SUMS)
echo "$OUT"
