// Package options holds the flags of bindery-backend, grouped as
// cert-manager does: each group has AddFlags and Validate.
package options

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Controllers are the flags of the controllers part of the backend.
type Controllers struct {
	Kubeconfig              string
	MetricsAddr             string
	HealthAddr              string
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	ProviderPrettyName      string
	SyncPeriod              time.Duration
	HeartbeatInterval       time.Duration
	// MaxObjectsPerNamespace bounds the objects of each exported resource
	// one consumer may have in one of its namespaces on the provider; 0
	// means no bound.
	MaxObjectsPerNamespace int
}

// NewControllers returns the defaults.
func NewControllers() *Controllers {
	return &Controllers{
		MetricsAddr:        ":8443",
		HealthAddr:         ":8081",
		LeaderElection:     true,
		LeaderElectionID:   "bindery-backend",
		ProviderPrettyName: "Bindery",
		SyncPeriod:         10 * time.Hour,
		HeartbeatInterval:  30 * time.Second,

		MaxObjectsPerNamespace: 1000,
	}
}

// AddFlags registers the flags.
func (o *Controllers) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the provider cluster; in-cluster config when empty.")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", o.HealthAddr, "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "Elect a leader, so that several replicas run the controllers once.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "Namespace of the leader election Lease; the pod's namespace when empty.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "Name of the leader election Lease.")
	fs.StringVar(&o.ProviderPrettyName, "provider-pretty-name", o.ProviderPrettyName, "Name of this provider as users see it.")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", o.HeartbeatInterval, "Heartbeat interval asked of konnectors, and assumed for those that do not report theirs; a ClusterBinding without a heartbeat for 1.5 intervals is Unhealthy.")
	fs.DurationVar(&o.SyncPeriod, "sync-period", o.SyncPeriod, "How often every object is reconciled again even without a change.")
	fs.IntVar(&o.MaxObjectsPerNamespace, "max-objects-per-namespace", o.MaxObjectsPerNamespace, "How many objects of each exported resource one consumer may have in one of its namespaces on the provider (a ResourceQuota in each service namespace, and in its cluster namespace for cluster-scoped resources under Namespaced isolation), or in all for other cluster-scoped resources; a template's maxObjectsPerNamespace wins; 0 means no bound.")
}

// Validate checks the flags.
func (o *Controllers) Validate() error {
	var errs []error
	if o.ProviderPrettyName == "" {
		errs = append(errs, errors.New("--provider-pretty-name must not be empty"))
	}
	if o.SyncPeriod < time.Minute {
		errs = append(errs, fmt.Errorf("--sync-period must be at least 1m, not %s", o.SyncPeriod))
	}
	if o.HeartbeatInterval < time.Second {
		errs = append(errs, fmt.Errorf("--heartbeat-interval must be at least 1s, not %s", o.HeartbeatInterval))
	}
	if o.MaxObjectsPerNamespace < 0 {
		errs = append(errs, fmt.Errorf("--max-objects-per-namespace must not be negative, not %d", o.MaxObjectsPerNamespace))
	}
	if o.LeaderElection && o.LeaderElectionID == "" {
		errs = append(errs, errors.New("--leader-election-id must not be empty with --leader-elect"))
	}
	return errors.Join(errs...)
}
