package main_test

import (
	"crypto/sha256"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The machine's speed moves between runs minutes, even seconds, apart (a
// neighbour on the host, the clock), and every CPU figure of a run moves
// with it: the limit's own clients, doing the same work in every round,
// cost 2.2-3.3 ms of CPU per object across runs on 1 December. A speed
// gauge tells that drift from what the runs themselves cost: while a run
// goes on, a thread of this process does the same small computation every
// gaugeEvery and times it by its own CPU time. The median grows as the
// cores slow down, whatever else the run does.

// gaugeEvery is how often the gauge measures: about 0.3 % of a core.
const gaugeEvery = 100 * time.Millisecond

// gaugeInput is what the gauge's computation hashes, four times.
var gaugeInput = make([]byte, 16<<10)

// startGauge starts the gauge; stop ends it and returns the median time
// its computation took, or zero if the run was too short to measure.
func startGauge() (stop func() time.Duration) {
	done, median := make(chan struct{}), make(chan time.Duration)
	go func() {
		// On a thread of its own, so that its CPU time is the
		// computation's alone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tick := time.NewTicker(gaugeEvery)
		defer tick.Stop()
		var took []time.Duration
		for {
			select {
			case <-done:
				median <- percentile(took, 50)
				return
			case <-tick.C:
				took = append(took, gaugeOnce())
			}
		}
	}()
	return func() time.Duration {
		close(done)
		return <-median
	}
}

// gaugeOnce does the gauge's computation and returns the CPU time it took.
func gaugeOnce() time.Duration {
	start := threadCPU()
	for range 4 {
		sha256.Sum256(gaugeInput)
	}
	return threadCPU() - start
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err) // Linux has had this clock since 2.6.12
	}
	return time.Duration(ts.Nano())
}
