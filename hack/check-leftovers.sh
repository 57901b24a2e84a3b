#!/usr/bin/env bash
# Fails when a control-plane process started from the test cache is still
# running after the tests, and kills it: a test must never leave etcd,
# kube-apiserver or kube-controller-manager behind.
set -uo pipefail
cache="${1:?usage: check-leftovers.sh CACHE_DIR}"
pattern="${cache}/envtest/[^ ]*/(etcd|kube-apiserver|kube-controller-manager)( |$)"
pids=$(pgrep -f "${pattern}" || true)
if [[ -z "${pids}" ]]; then
  echo "check-leftovers: no etcd, kube-apiserver or kube-controller-manager left running"
  exit 0
fi
echo "check-leftovers: FAIL: test processes still running after the tests:" >&2
ps -o pid,etime,args -p ${pids} >&2 || true
kill -9 ${pids} 2>/dev/null || true
exit 1
