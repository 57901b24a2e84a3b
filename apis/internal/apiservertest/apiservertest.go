// Package apiservertest starts a real etcd and kube-apiserver for the apis
// module's tests, from KUBEBUILDER_ASSETS (which `make test` sets). The
// test module's framework does more (a controller manager, several
// clusters); the apis module only needs an apiserver's validation.
package apiservertest

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start runs an apiserver until the test ends and returns an admin config.
func Start(t *testing.T) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or `make envtest` and point it at .cache/envtest/<version>")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return cfg
}
