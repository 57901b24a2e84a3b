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
)

// bins are the built programs, by name.
var bins map[string]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bindery-e2e-bin-")
	if err == nil {
		bins, err = framework.Build(dir, framework.BackendPkg, framework.KubectlBindPkg, framework.KonnectorPkg, framework.ExampleOperatorPkg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	framework.StopAll()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
