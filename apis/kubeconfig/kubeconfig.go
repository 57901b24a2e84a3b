// Package kubeconfig loads the REST config the backend and the konnector
// talk to their own cluster with.
package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Load reads the kubeconfig at path, or, when path is empty, finds the
// config as controller-runtime does ($KUBECONFIG, in-cluster, ~/.kube).
func Load(path string) (*rest.Config, error) {
	if path == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
