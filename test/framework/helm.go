package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// HelmPath is the helm binary the tests install charts with: $HELM (the
// Makefile sets it to the pinned one it builds), else the newest one in
// .cache/tools.
func HelmPath() (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return p, nil
	}
	found, _ := filepath.Glob(filepath.Join(RepoRoot(), ".cache", "tools", "helm-*"))
	if len(found) == 0 {
		return "", fmt.Errorf("no helm: run the tests with make, or set HELM")
	}
	sort.Strings(found)
	return found[len(found)-1], nil
}

// Helm runs helm against the cluster and returns its output; it fails the
// test when helm fails, unless the caller wants the error (HelmErr).
func (c *Cluster) Helm(t TB, args ...string) string {
	t.Helper()
	out, err := c.HelmErr(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// HelmErr runs helm against the cluster and returns its output and error.
func (c *Cluster) HelmErr(t TB, args ...string) (string, error) {
	t.Helper()
	helm, err := HelmPath()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helm, append(args, "--kubeconfig", c.Kubeconfig)...)
	// Helm's own state (repositories, cache) stays in the test's folder.
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir, "HELM_CONFIG_HOME="+dir, "HELM_DATA_HOME="+dir)
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(c.LogWriter("helm"), "$ helm %s\n%s", strings.Join(args, " "), out)
	return string(out), err
}
