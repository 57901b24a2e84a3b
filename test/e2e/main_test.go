// Package e2e holds Bindery's end-to-end tests: the user journeys with the
// real programs (bindery-backend, kubectl-bind, the konnector and the
// example operator) run as processes against real clusters, a real OpenID
// provider and a real headless browser.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

// bins are the built programs.
var bins stack.Programs

// scenarios limits how many scenarios (each with two or three clusters and
// its programs) run at once, so that on a small machine none of them
// starves while `make test` runs other packages too.
var scenarios = make(chan struct{}, 2)

// scenario takes one of the slots until the test ends.
func scenario(t *testing.T) {
	scenarios <- struct{}{}
	t.Cleanup(func() { <-scenarios })
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bindery-e2e-bin-")
	if err == nil {
		bins, err = stack.Build(dir)
	}
	if err == nil {
		var demo map[string]string
		demo, err = framework.Build(dir, "test/cmd/bindery-demo")
		bins["bindery-demo"] = demo["bindery-demo"]
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := framework.Run(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
