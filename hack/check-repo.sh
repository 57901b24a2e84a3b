#!/usr/bin/env bash
# Fails when git tracks a build output: a file over 1 MB, or an executable
# binary (an ELF, Mach-O or PE file, whatever its mode). Build outputs
# belong in .gitignore (bin/, .cache/, dist/), never in git.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=$((1024 * 1024))
bad=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	size=$(stat -c %s "$f")
	if [ "$size" -gt "$limit" ]; then
		echo "check-repo: $f is $size bytes, over 1 MB; build outputs and large data do not belong in git" >&2
		bad=1
		continue
	fi
	magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
	case "$magic" in
	7f454c46 | cffaedfe | cefaedfe | feedfacf | feedface | 4d5a*)
		echo "check-repo: $f is an executable binary; build it instead of committing it" >&2
		bad=1
		;;
	esac
done < <(git ls-files -z)
if [ "$bad" = 0 ]; then
	echo "check-repo: no binaries or files over 1 MB are tracked"
fi
exit "$bad"
