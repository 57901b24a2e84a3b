// Package provider connects the konnector to a provider cluster with the
// kubeconfig a binding references.
package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/kubeconfig"

	"github.com/bindery-dev/bindery/konnector/internal/dynamicclient"
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

// Connect builds clients from a provider kubeconfig. The kubeconfig is
// data from the provider, which is not trusted with this cluster: only its
// server, CA and token or client certificate are used, and a kubeconfig
// with anything that would run a program or read a file is refused
// (kubeconfig.ParseProvider).
func Connect(raw []byte, o kubeconfig.ProviderOptions, limits Limits) (*Conn, error) {
	p, err := kubeconfig.ParseProvider(raw, o)
	if err != nil {
		return nil, err
	}
	cfg, ns := p.Config, p.Namespace
	cfg.QPS, cfg.Burst = limits.QPS, limits.Burst
	cfg.UserAgent = "bindery-konnector"
	requestmetrics.Instrument(cfg, "provider")
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return nil, fmt.Errorf("creating a provider client: %w", err)
	}
	d, err := dynamicclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating a provider client: %w", err)
	}
	return &Conn{ID: ID(raw, o), Host: cfg.Host, Namespace: ns, Config: cfg, Client: c, Dynamic: d}, nil
}

// ID identifies a kubeconfig and what it was accepted with; it changes
// whenever either does.
func ID(raw []byte, o kubeconfig.ProviderOptions) string {
	h := sha256.New()
	h.Write(raw)
	fmt.Fprintf(h, "\n%t", o.AllowInsecureTLS)
	return hex.EncodeToString(h.Sum(nil)[:8])
}
