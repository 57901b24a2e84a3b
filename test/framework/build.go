package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Bindery's programs, by the path of their main package in the repository.
const (
	BackendPkg         = "backend/cmd/bindery-backend"
	KubectlBindPkg     = "cli/cmd/kubectl-bind"
	KonnectorPkg       = "konnector/cmd/konnector"
	ExampleOperatorPkg = "test/cmd/example-operator"
)

// Build builds the repository's programs into dir and returns their paths,
// by program name (the last element of the package path). pkgs are paths
// in the repository, such as BackendPkg; each is built inside its own
// module, so that it works with and without the workspace.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	bins := map[string]string{}
	for _, pkg := range pkgs {
		module, rel, ok := strings.Cut(pkg, "/")
		if !ok {
			return nil, fmt.Errorf("package %q is not inside a module of the repository", pkg)
		}
		name := path.Base(pkg)
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "-C", filepath.Join(RepoRoot(), module), "build", "-o", out, "./"+rel)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building %s: %w", pkg, err)
		}
		bins[name] = out
	}
	return bins, nil
}
