package framework

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// The framework keeps a registry of what it started, so that an interrupt
// (Ctrl-C, SIGTERM from `go test -timeout`'s parent, CI cancelling) stops
// every cluster and process instead of leaving them running.
var (
	registryMu sync.Mutex
	clusters   = map[*Cluster]struct{}{}
	pids       = map[int]struct{}{}
	signalOnce sync.Once
)

func track(c *Cluster) {
	registryMu.Lock()
	clusters[c] = struct{}{}
	registryMu.Unlock()
	installSignalHandler()
}

func untrack(c *Cluster) {
	registryMu.Lock()
	delete(clusters, c)
	registryMu.Unlock()
}

func trackPID(pid int) {
	registryMu.Lock()
	pids[pid] = struct{}{}
	registryMu.Unlock()
	installSignalHandler()
}

func untrackPID(pid int) {
	registryMu.Lock()
	delete(pids, pid)
	registryMu.Unlock()
}

// AfterInterrupt runs after SIGINT or SIGTERM stopped every cluster and
// process; by default it exits with status 1, as an interrupted test run
// does. A program such as the demo replaces it.
var AfterInterrupt = func() { os.Exit(1) }

func installSignalHandler() {
	signalOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			fmt.Fprintf(os.Stderr, "framework: %s received, stopping clusters and processes\n", sig)
			StopAll()
			AfterInterrupt()
		}()
	})
}

// StopAll stops every cluster and process the framework started.
func StopAll() {
	registryMu.Lock()
	cs := make([]*Cluster, 0, len(clusters))
	for c := range clusters {
		cs = append(cs, c)
	}
	ps := make([]int, 0, len(pids))
	for p := range pids {
		ps = append(ps, p)
	}
	registryMu.Unlock()
	for _, p := range ps {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for _, c := range cs {
		c.Stop()
	}
}

// Main is for a package's TestMain: it runs the tests and stops whatever
// is still running afterwards.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run runs the tests, stops whatever is still running afterwards, removes
// the work directory (the images it built), and returns the tests' exit
// code, for a TestMain that has more to do. The test process's own
// controller-runtime caches and clients log nothing: the programs under
// test log to their cluster's log.
func Run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	code := m.Run()
	StopAll()
	if dir, err := workDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
	return code
}
