#!/usr/bin/env bash
# Stops a running `make demo`: sends SIGTERM to the demo, which stops its
# clusters and processes, and waits until it is gone.
set -euo pipefail
pid_file="${1:?usage: demo-down.sh <pid file>}"
if [[ ! -f "${pid_file}" ]]; then
	echo "demo-down: no demo is running (no ${pid_file})"
	exit 0
fi
pid="$(cat "${pid_file}")"
if ! kill -0 "${pid}" 2>/dev/null; then
	echo "demo-down: the demo (pid ${pid}) is not running any more"
	rm -f "${pid_file}"
	exit 0
fi
echo "demo-down: stopping the demo (pid ${pid})"
kill -TERM "${pid}"
for _ in $(seq 1 60); do
	if ! kill -0 "${pid}" 2>/dev/null; then
		echo "demo-down: stopped; nothing is left running"
		exit 0
	fi
	sleep 0.5
done
echo "demo-down: the demo did not stop within 30s; killing it" >&2
kill -KILL "${pid}" 2>/dev/null || true
rm -f "${pid_file}"
exit 1
