#!/usr/bin/env bash
# Installs what the tests need besides Go, and skips what is already there:
# - Debian's chromium (a real headless browser) for the login tests;
# - Debian's containerd, runc, CNI plugins and iptables for the test nodes
#   that run pods (test/framework StartNode);
# - the npm oidc-provider (a certified OpenID provider) in test/oidcprovider.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Debian package for each command or file the tests use.
declare -A packages=(
	[chromium]=chromium
	[containerd]=containerd
	[runc]=runc
	[/usr/lib/cni/bridge]=containernetworking-plugins
	[iptables]=iptables
	[nsenter]=util-linux
)
missing=()
for what in "${!packages[@]}"; do
	if [[ "$what" == /* ]]; then
		[ -e "$what" ] || missing+=("${packages[$what]}")
	else
		command -v "$what" >/dev/null 2>&1 || missing+=("${packages[$what]}")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-deps: installing Debian's ${missing[*]}" >&2
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
		{ $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

dir="$root/test/oidcprovider"
stamp="$dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
	echo "test-deps: installing npm oidc-provider" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
