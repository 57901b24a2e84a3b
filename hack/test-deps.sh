#!/usr/bin/env bash
# Installs what the login tests need besides Go: Debian's chromium (a real
# headless browser) and the npm oidc-provider (a certified OpenID provider)
# in test/oidcprovider. Skips what is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v chromium >/dev/null 2>&1; then
	echo "test-deps: installing Debian's chromium" >&2
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
		{ $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi

dir="$root/test/oidcprovider"
stamp="$dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
	echo "test-deps: installing npm oidc-provider" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
