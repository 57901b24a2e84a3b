package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// KubeVersion is the version of the control-plane binaries `make envtest`
// builds. It must match KUBE_VERSION in hack/envtest.sh.
const KubeVersion = "v1.35.4"

var assetBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// AssetsDir returns the folder that holds etcd, kube-apiserver and
// kube-controller-manager: $KUBEBUILDER_ASSETS when set, else the cache
// folder `make envtest` builds into.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), ".cache", "envtest", KubeVersion)
	}
	for _, b := range assetBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("control-plane binary %s not found in %s: run `make envtest` first (or set KUBEBUILDER_ASSETS): %w", b, dir, err)
		}
	}
	return dir, nil
}

// RepoRoot returns the root of the Bindery repository, found from this
// source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
