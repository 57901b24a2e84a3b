#!/usr/bin/env bash
# Builds everything a release publishes into $OUT (default _output/release),
# offline:
#   images/           the konnector and backend images, OCI archives per arch
#   charts/           the packaged Helm charts
#   kubectl-bind_<version>_<os>_<arch>.tar.gz, one per OS and architecture
#   bind.yaml         the krew manifest, with the sha256 of those archives
#   SHA256SUMS
#
# The version is the charts' appVersion, the one source of it: kubectl bind
# deploys the konnector image of its embedded chart's appVersion, so a
# release must produce exactly that tag. Bump appVersion in both charts to
# release another version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
helm="${HELM:?set HELM to a helm binary (make release does)}"
out="${OUT:-$root/_output/release}"

appversion() { sed -n 's/^appVersion: *//p' "$1/Chart.yaml"; }
version=$(appversion konnector/deploy/chart)
if [ "$(appversion charts/backend)" != "$version" ]; then
	echo "release: charts/backend appVersion $(appversion charts/backend) differs from the konnector chart's $version" >&2
	exit 1
fi
if [ -n "${VERSION:-}" ] && [ "$VERSION" != "$version" ]; then
	echo "release: VERSION=$VERSION but the charts' appVersion is $version; bump appVersion in both charts instead" >&2
	exit 1
fi
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
rm -rf "$out"
mkdir -p "$out/images" "$out/charts"

echo "release: $version images" >&2
for arch in amd64 arm64; do
	go -C test run ./cmd/bindery-images --root "$root" --out "$out/images" --version "$version" --revision "$revision" --arch "$arch" >&2
done

echo "release: charts" >&2
for chart in konnector/deploy/chart charts/backend; do
	"$helm" package "$chart" --destination "$out/charts" >/dev/null
done

echo "release: kubectl-bind archives" >&2
platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for p in "${platforms[@]}"; do
	os=${p%/*} arch=${p#*/}
	exe=kubectl-bind
	[ "$os" = windows ] && exe=kubectl-bind.exe
	mkdir -p "$work/$os-$arch"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go -C cli build -trimpath \
		-ldflags "-s -w -X github.com/bindery-dev/bindery/apis/version.Version=$version" \
		-o "$work/$os-$arch/$exe" ./cmd/kubectl-bind
	cp cli/kubectl_complete-bind "$work/$os-$arch/"
	# Reproducible: fixed owner, order and times.
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
		-C "$work/$os-$arch" -cf - "$exe" kubectl_complete-bind | gzip -n >"$out/kubectl-bind_${version}_${os}_${arch}.tar.gz"
done

echo "release: krew manifest" >&2
base="https://github.com/bindery-dev/bindery/releases/download/$version"
manifest=$(sed "s/{{ .TagName }}/$version/g" cli/krew/bind.yaml)
while read -r archive; do
	sum=$(sha256sum "$out/$archive" | cut -d' ' -f1)
	manifest=$(printf '%s\n' "$manifest" | sed "s#{{addURIAndSha \"$base/$archive\" .TagName }}#uri: $base/$archive\n    sha256: $sum#")
done < <(cd "$out" && ls kubectl-bind_*.tar.gz)
if printf '%s\n' "$manifest" | grep -q '{{'; then
	echo "release: the krew manifest names an archive this release does not build:" >&2
	printf '%s\n' "$manifest" | grep '{{' >&2
	exit 1
fi
printf '%s\n' "$manifest" | sed '/^# /d' >"$out/bind.yaml"

(cd "$out" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum >SHA256SUMS)
echo "release: $version in $out" >&2
