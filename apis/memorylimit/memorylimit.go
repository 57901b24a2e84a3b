// Package memorylimit sets the Go runtime's memory limit of Bindery's
// programs from their container's, and how soon their collector runs.
package memorylimit

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// Ratio is the share of the container's memory limit that Set gives the
// Go runtime.
const Ratio = 0.9

// Set sets the Go memory limit to Ratio (90 %) of the container's memory
// limit (its cgroup's), so that under load, near the limit, the runtime
// collects harder instead of the container being killed at it; the heap
// otherwise grows to twice what is live between collections. GOMEMLIMIT,
// or AUTOMEMLIMIT (a ratio, or "off"), in the environment wins. It logs
// the limit as "Go memory limit", or why there is none; outside a
// container with a memory limit it sets nothing.
func Set(log logr.Logger) {
	limit, err := memlimit.Set(memlimit.WithRatio(Ratio))
	switch {
	case err != nil:
		log.Error(err, "Cannot set the Go memory limit from the container's memory limit")
	case limit < math.MaxInt64:
		log.Info("Go memory limit", "bytes", limit)
	}
}

// SetGCPercent has the collector run once the heap has grown by percent
// of what the last collection found live (Go's GOGC; Go's default is
// 100), unless GOGC in the environment, which wins, says otherwise (an
// empty GOGC says nothing). It logs the setting in force as "Go GC
// percent".
func SetGCPercent(log logr.Logger, percent int) {
	if v := os.Getenv("GOGC"); v != "" {
		log.Info("Go GC percent", "GOGC", v)
		return
	}
	debug.SetGCPercent(percent)
	log.Info("Go GC percent", "percent", percent)
}
