package cmd

import (
	"fmt"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// consumerClients are the clients of the cluster kubectl's flags select.
type consumerClients struct {
	config  *rest.Config
	dynamic dynamic.Interface
	kube    kubernetes.Interface
}

func clientsFor(flags *genericclioptions.ConfigFlags) (*consumerClients, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the cluster's kubeconfig: %w (hint: check --kubeconfig and --context)", err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &consumerClients{config: cfg, dynamic: d, kube: kube}, nil
}
