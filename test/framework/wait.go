package framework

import (
	"time"
)

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
