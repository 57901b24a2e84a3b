package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindery-dev/bindery/test/framework"
)

// TestDemo runs `make demo`'s program as a person would, with the headless
// login, and stops it as `make demo-down` does: with SIGTERM, after which
// nothing it started may be left.
func TestDemo(t *testing.T) {
	t.Parallel()
	scenario(t)
	state := t.TempDir()
	logs := filepath.Join(t.TempDir(), "demo.log")
	f, err := os.Create(logs)
	require.NoError(t, err)
	defer f.Close()
	out := &lockedFile{f: f}
	demo := &framework.Process{Name: "bindery-demo", Path: bins["bindery-demo"], Log: out,
		Env:  append(os.Environ(), "DEMO_AUTO_LOGIN=1"),
		Args: []string{"--bin-dir", filepath.Dir(bins["konnector"]), "--state-dir", state, "--port", "0"}}
	require.NoError(t, demo.Start())
	t.Cleanup(demo.Kill)
	t.Cleanup(func() {
		if t.Failed() {
			raw, _ := os.ReadFile(logs)
			t.Logf("demo output:\n%s", raw)
		}
	})

	framework.Eventually(t, func() (bool, string) {
		if done, err := demo.Exited(); done {
			t.Fatalf("the demo ended early: %v", err)
		}
		return strings.Contains(out.String(t), "Stop: Ctrl-C here"), "the demo is not up yet"
	}, 4*time.Minute)
	text := out.String(t)
	for _, want := range []string{"template \"postgres\" is Ready", "phase Ready", "connection Secret default/demo-conn arrived",
		"get databases,secrets -n default"} {
		assert.Contains(t, text, want)
	}
	pid, err := os.ReadFile(filepath.Join(state, "demo.pid"))
	require.NoError(t, err, "the demo writes its pid for make demo-down")
	assert.Equal(t, strconv.Itoa(demo.PID()), strings.TrimSpace(string(pid)))
	for _, kc := range []string{"provider.kubeconfig", "consumer.kubeconfig"} {
		assert.FileExists(t, filepath.Join(state, kc))
	}

	descendants := childrenOf(demo.PID())
	assert.GreaterOrEqual(t, len(descendants), 8, "clusters, backend, operator, konnector: %v", descendants)

	// What make demo-down does.
	require.NoError(t, syscall.Kill(demo.PID(), syscall.SIGTERM))
	require.NoError(t, demo.Wait(time.Minute), "the demo stops cleanly on SIGTERM")
	assert.Contains(t, out.String(t), "Demo stopped; nothing is left running.")
	assert.NoFileExists(t, filepath.Join(state, "demo.pid"))
	assert.NoFileExists(t, filepath.Join(state, "consumer.kubeconfig"))
	for _, p := range descendants {
		if alive(p) {
			t.Errorf("the demo left process %d behind", p)
		}
	}
}

// childrenOf returns the processes under pid, however deep.
func childrenOf(pid int) []int {
	parents := map[int]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range stats {
		raw, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		// After the command name in parentheses: state, then the parent.
		fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
		if len(fields) > 1 {
			parents[p], _ = strconv.Atoi(fields[1])
		}
	}
	var out []int
	var walk func(int)
	walk = func(parent int) {
		for p, pp := range parents {
			if pp == parent {
				out = append(out, p)
				walk(p)
			}
		}
	}
	walk(pid)
	return out
}

// alive reports whether a process runs (a zombie does not).
func alive(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// lockedFile is a log file that the test also reads.
type lockedFile struct {
	f *os.File
}

func (l *lockedFile) Write(p []byte) (int, error) { return l.f.Write(p) }

func (l *lockedFile) String(t *testing.T) string {
	raw, err := os.ReadFile(l.f.Name())
	require.NoError(t, err)
	return string(raw)
}
