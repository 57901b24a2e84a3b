#!/usr/bin/env bash
# Runs every fuzz target of the repository for FUZZTIME each (30s by
# default), one after another: `go test -fuzz` takes one target at a time.
# Not part of `make test`; a failure leaves its input in the package's
# testdata/fuzz, which then runs as a regular test case.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
status=0
while IFS=: read -r file name; do
  pkg="./$(dirname "${file}")"
  echo "fuzz: ${name} in ${pkg} for ${fuzztime}"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "${fuzztime}" "${pkg}"; then
    status=1
  fi
done < <(grep -rHo --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.cache --exclude-dir=_output \
           -e '^func Fuzz[A-Za-z0-9_]*' apis backend cli konnector test | sed 's/:func /:/')
exit "${status}"
