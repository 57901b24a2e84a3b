#!/usr/bin/env bash
# Fails when a test left something running or installed on the machine, and
# removes it: a control-plane process started from the test cache (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet), or
# what a test node leaves when it is not stopped (containerd and its shims,
# container processes in a node's cgroup, a node's bridge, iptables rules
# or cgroups). Given a file made before the tests, also the temporary
# directories made since that tests remove when they pass (built images,
# browsers' profiles and sockets); a failed test's cluster logs
# (bindery-<cluster>-*) stay by design.
set -uo pipefail
cache="${1:?usage: check-leftovers.sh CACHE_DIR [STAMP_FILE]}"
stamp="${2:-}"
status=0

fail() {
	echo "check-leftovers: FAIL: $*" >&2
	status=1
}

pattern="${cache}/envtest/[^ ]*/(etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet)( |$)"
node_pattern="(containerd --config /tmp/bindery-[^ ]*/containerd.toml|containerd-shim.*-address /tmp/bindery-|sleep 2147483647)"
pids=$(pgrep -f "${pattern}" || true; pgrep -f "${node_pattern}" || true)
# The processes of pods a node ran.
for cg in /sys/fs/cgroup/*/bindery-node-*; do
	[ -d "$cg" ] || continue
	pids+=" $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')"
done
pids=$(echo ${pids} | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [[ -n "${pids// /}" ]]; then
	fail "test processes still running after the tests:"
	ps -o pid,etime,args -p ${pids// /,} >&2 || true
	kill -9 ${pids} 2>/dev/null || true
	sleep 1
fi

for cg in /sys/fs/cgroup/*/bindery-node-*; do
	[ -d "$cg" ] || continue
	fail "cgroup $cg left behind"
	find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done

for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep '^bindery' | cut -d@ -f1); do
	fail "network link $link left behind"
	ip link delete "$link" 2>/dev/null || true
done

if command -v iptables-save >/dev/null 2>&1; then
	for table in nat filter; do
		while read -r rule; do
			[ -n "$rule" ] || continue
			fail "iptables rule left behind in $table: $rule"
			eval "iptables -w -t $table $rule" 2>/dev/null || true
		done < <(iptables-save -t "$table" 2>/dev/null | grep -- '--comment "\?bindery-node-' | sed 's/^-A /-D /')
	done
fi

if [ -n "$stamp" ]; then
	while read -r dir; do
		[ -n "$dir" ] || continue
		fail "temporary directory $dir left behind"
		rm -rf "$dir"
	done < <(find "${TMPDIR:-/tmp}" -maxdepth 1 -newer "$stamp" \( -name 'bindery-build-*' -o -name 'bindery-chromium-*' -o -name 'org.chromium.Chromium.*' \) 2>/dev/null)
fi

if [ "$status" = 0 ]; then
	echo "check-leftovers: no test process, node, bridge, iptables rule, cgroup or temporary directory left behind"
fi
exit "$status"
