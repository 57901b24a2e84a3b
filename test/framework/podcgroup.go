package framework

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// A PodCgroup reads what the kernel accounts to one pod on a node: its
// memory and CPU, from the pod's cgroup (cgroup v1, as on the test
// machines), the figures a kubelet's own stats come from.
type PodCgroup struct {
	memory, cpuacct string
}

// PodCgroup finds the cgroup of the pod with uid on n. The kubelet creates
// it (as pod<uid>, under its QoS class) when the pod's sandbox starts.
func (n *Node) PodCgroup(uid types.UID) (*PodCgroup, error) {
	g := &PodCgroup{}
	for dir, ctrl := range map[*string]string{&g.memory: "memory", &g.cpuacct: "cpuacct"} {
		root := filepath.Join("/sys/fs/cgroup", ctrl, n.cgroup)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "pod"+string(uid) {
				*dir = p
				return filepath.SkipAll
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("looking for pod %s's %s cgroup under %s: %w", uid, ctrl, root, err)
		}
		if *dir == "" {
			return nil, fmt.Errorf("pod %s has no %s cgroup under %s", uid, ctrl, root)
		}
	}
	return g, nil
}

// MemoryPeak is the most memory the pod has used since it started, as the
// kernel counts it (memory.max_usage_in_bytes, page cache included).
func (g *PodCgroup) MemoryPeak() (int64, error) {
	return readInt(filepath.Join(g.memory, "memory.max_usage_in_bytes"))
}

// WorkingSet is the pod's memory now less its inactive page cache, the
// figure the kubelet evicts on and `kubectl top` shows.
func (g *PodCgroup) WorkingSet() (int64, error) {
	usage, err := readInt(filepath.Join(g.memory, "memory.usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(filepath.Join(g.memory, "memory.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "total_inactive_file" {
			inactive, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("memory.stat of %s: %w", g.memory, err)
			}
			return max(usage-inactive, 0), nil
		}
	}
	return 0, errors.New("no total_inactive_file in memory.stat of " + g.memory)
}

// CPU is the CPU time the pod's processes have used since it started.
func (g *PodCgroup) CPU() (time.Duration, error) {
	ns, err := readInt(filepath.Join(g.cpuacct, "cpuacct.usage"))
	return time.Duration(ns), err
}

func readInt(path string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return v, nil
}
