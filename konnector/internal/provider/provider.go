// Package provider connects the konnector to a provider cluster with the
// kubeconfig a binding references.
package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/konnector/internal/requestmetrics"
	"github.com/bindery-dev/bindery/konnector/internal/scheme"
)

// Conn is a connection to a provider.
type Conn struct {
	// ID changes whenever the kubeconfig does.
	ID string
	// Host is the provider's API server.
	Host string
	// Namespace is the consumer's cluster namespace on the provider, the
	// namespace of the kubeconfig's current context.
	Namespace string
	Config    *rest.Config
	Client    client.Client
	Dynamic   dynamic.Interface
}

// Limits are client-side rate limits towards the provider.
type Limits struct {
	QPS   float32
	Burst int
}

// Connect builds clients from a kubeconfig.
func Connect(kubeconfig []byte, limits Limits) (*Conn, error) {
	cc, err := clientcmd.NewClientConfigFromBytes(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig is not valid: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" || ns == "default" {
		return nil, fmt.Errorf("the kubeconfig's current context names no consumer namespace on the provider")
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig is not valid: %w", err)
	}
	cfg.QPS, cfg.Burst = limits.QPS, limits.Burst
	cfg.UserAgent = "bindery-konnector"
	requestmetrics.Instrument(cfg, "provider")
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return nil, fmt.Errorf("creating a provider client: %w", err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a provider client: %w", err)
	}
	return &Conn{ID: ID(kubeconfig), Host: cfg.Host, Namespace: ns, Config: cfg, Client: c, Dynamic: d}, nil
}

// ID identifies a kubeconfig; it changes whenever the kubeconfig does.
func ID(kubeconfig []byte) string {
	sum := sha256.Sum256(kubeconfig)
	return hex.EncodeToString(sum[:8])
}
