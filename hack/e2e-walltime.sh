#!/usr/bin/env bash
# Turns `go test -v` output of the e2e package into benchmark lines for
# hack/bench-report.sh: the package's wall time (its tests run in parallel)
# and each top-level test's own time. Failures and the package's ok/FAIL
# line pass through, so that the report fails with the suite.
set -euo pipefail
awk '
  /^--- (PASS|FAIL): Test[^ \/]* \(/ {
    name = $3; secs = $4; gsub(/[()s]/, "", secs)
    if ($2 == "FAIL:") { print; next }
    printf "BenchmarkE2E/%s-1\t1\t%s wall-s\n", name, secs
    next
  }
  /^(ok|FAIL)[ \t]/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+s$/) { secs = $i; sub(/s$/, "", secs) }
    if ($1 == "ok") printf "BenchmarkE2E-1\t1\t%s wall-s\n", secs
    print
    next
  }
  /^(FAIL|panic:)/ { print }
'
