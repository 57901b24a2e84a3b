package framework

import (
	"bytes"
	"fmt"
	"os"
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
func (p *Process) CPUSeconds() (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", p.PID())
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %v %v", p.PID(), err1, err2)
	}
	return (utime + stime) / userHZ, nil
}
