package framework

import (
	"time"
)

// WaitTimeout is how long a test waits for the clusters to converge: for
// a controller to act, a watch to deliver, a condition to turn. A wait that
// needs longer says why next to its own timeout.
const WaitTimeout = time.Minute

// Eventually polls cond every 100ms until it returns true or timeout
// passes, then fails the test with the last reason cond gave. Tests wait for
// eventual consistency with it; it is never a performance assertion.
func Eventually(t TB, cond func() (done bool, reason string), timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var reason string
	for {
		var done bool
		done, reason = cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
