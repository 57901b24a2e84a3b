// Package options holds the konnector's flags.
package options

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options are the konnector's flags.
type Options struct {
	Kubeconfig              string
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	MetricsAddr             string
	HealthAddr              string
	PprofAddr               string
	SecretNamespace         string
	HeartbeatInterval       time.Duration
	ProviderQPS             float32
	ProviderBurst           int
	ConsumerQPS             float32
	ConsumerBurst           int
	SyncWorkers             int
}

// New returns the defaults.
func New() *Options {
	return &Options{
		LeaderElection:          true,
		LeaderElectionNamespace: "kube-bind",
		LeaderElectionID:        "bindery-konnector",
		MetricsAddr:             ":8443",
		HealthAddr:              ":8081",
		PprofAddr:               "0",
		SecretNamespace:         "kube-bind",
		HeartbeatInterval:       30 * time.Second,
		ProviderQPS:             1000,
		ProviderBurst:           2000,
		ConsumerQPS:             1000,
		ConsumerBurst:           2000,
		SyncWorkers:             32,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the consumer cluster; in-cluster config when empty.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "Elect a leader, so that several replicas sync once.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "Namespace of the leader election Lease.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "Name of the leader election Lease.")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr, "Address of Go's pprof profiles, unauthenticated: bind it to 127.0.0.1 and reach it with kubectl port-forward; 0 disables it.")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", o.HealthAddr, "Address of /healthz and /readyz; 0 disables them.")
	fs.StringVar(&o.SecretNamespace, "secret-namespace", o.SecretNamespace, "Namespace of the provider kubeconfig Secrets that bindings reference.")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", o.HeartbeatInterval, "Heartbeat interval, unless the provider asks for another in its ClusterBinding.")
	fs.Float32Var(&o.ProviderQPS, "provider-qps", o.ProviderQPS, "Client-side request rate limit towards each provider.")
	fs.IntVar(&o.ProviderBurst, "provider-burst", o.ProviderBurst, "Client-side burst towards each provider.")
	fs.Float32Var(&o.ConsumerQPS, "consumer-qps", o.ConsumerQPS, "Client-side request rate limit towards the consumer cluster.")
	fs.IntVar(&o.ConsumerBurst, "consumer-burst", o.ConsumerBurst, "Client-side burst towards the consumer cluster.")
	fs.IntVar(&o.SyncWorkers, "sync-workers", o.SyncWorkers, "Workers per binding that sync objects.")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var errs []error
	if o.HeartbeatInterval < time.Second {
		errs = append(errs, fmt.Errorf("--heartbeat-interval must be at least 1s, not %s", o.HeartbeatInterval))
	}
	if o.ProviderQPS <= 0 || o.ProviderBurst <= 0 {
		errs = append(errs, errors.New("--provider-qps and --provider-burst must be positive"))
	}
	if o.ConsumerQPS <= 0 || o.ConsumerBurst <= 0 {
		errs = append(errs, errors.New("--consumer-qps and --consumer-burst must be positive"))
	}
	if o.SyncWorkers < 1 {
		errs = append(errs, errors.New("--sync-workers must be at least 1"))
	}
	if o.SecretNamespace == "" {
		errs = append(errs, errors.New("--secret-namespace must not be empty"))
	}
	return errors.Join(errs...)
}
