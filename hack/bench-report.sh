#!/usr/bin/env bash
# Turns `go test -bench` output into a table: one row per figure, with
# the benchmark it comes from. The raw lines are printed first.
set -euo pipefail
raw="$(cat)"
printf '%s\n\n' "${raw}"
if grep -q "^FAIL" <<<"${raw}" || ! grep -q "^ok" <<<"${raw}"; then echo "bench: a benchmark failed" >&2; exit 1; fi
printf '%-22s %-22s %12s\n' BENCHMARK FIGURE VALUE
grep '^Benchmark' <<<"${raw}" | while read -r name _ rest; do
  set -- ${rest}
  while [ $# -ge 2 ]; do
    [ "$2" = "ns/op" ] || printf '%-22s %-22s %12s\n' "${name%-*}" "$2" "$1"
    shift 2
  done
done
