package framework

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// What a running process costs, from /proc, for benchmarks.

// userHZ is the unit of the CPU times in /proc: clock ticks per second.
const userHZ = 100

// MemoryMiB returns a memory figure of the process from /proc/<pid>/status
// in MiB: "VmRSS" (resident now) or "VmHWM" (its peak).
func (p *Process) MemoryMiB(field string) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.PID())
}

// CPUSeconds returns the CPU time the process has used, user and system.
func (p *Process) CPUSeconds() (float64, error) { return cpuSecondsOf(p.PID()) }

// cpuSecondsOf returns the CPU time process pid has used, user and system.
func cpuSecondsOf(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return (utime + stime) / userHZ, nil
}

// MachineCPUSeconds returns how long the machine's CPUs have been busy
// (all but idle and iowait) and their time in all, summed over CPUs, from
// /proc/stat.
func MachineCPUSeconds() (busy, total float64, err error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("no cpu line in /proc/stat: %q", line)
	}
	for i, v := range f[1:] {
		ticks, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing /proc/stat: %w", err)
		}
		total += ticks
		if i != 3 && i != 4 { // idle, iowait
			busy += ticks
		}
	}
	return busy / userHZ, total / userHZ, nil
}

// clusterPrograms are the programs the framework runs for a cluster.
var clusterPrograms = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// CPUSeconds returns the CPU time each program of the cluster has used
// (clusterPrograms), keyed by its name: the processes of those programs
// whose command line names the cluster's directory. Others that name it,
// such as a konnector given its kubeconfig, are not the cluster's.
func (c *Cluster) CPUSeconds() (map[string]float64, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(c.Dir+string(os.PathSeparator))) {
			continue // gone meanwhile, or another cluster's
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		program := filepath.Base(string(argv0))
		if !slices.Contains(clusterPrograms, program) {
			continue
		}
		if s, err := cpuSecondsOf(pid); err == nil { // else gone meanwhile
			out[program] += s
		}
	}
	return out, nil
}
