// Command bindery-backend runs on the control plane: it turns
// APIServiceExportRequests into APIServiceExports and gives each consumer
// namespace its namespace and grants on the provider.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterhealth"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportrequest"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportupdate"
	"github.com/bindery-dev/bindery/backend/internal/controller/servicenamespace"
	"github.com/bindery-dev/bindery/backend/internal/controller/templatestatus"
	"github.com/bindery-dev/bindery/backend/internal/options"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bindery-backend:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := options.NewControllers()
	zapOpts := zap.Options{}
	fs := pflag.NewFlagSet("bindery-backend", pflag.ExitOnError)
	opts.AddFlags(fs)
	fs.Parse(os.Args[1:]) //nolint:errcheck // ExitOnError
	if err := opts.Validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("bindery-backend")

	cfg, err := loadConfig(opts.Kubeconfig)
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()

	// The CRDs are installed before the manager starts, so that its
	// caches find every type.
	installer, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	installCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := crds.Install(installCtx, installer, crds.Provider...); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	log.Info("CRDs installed or up to date")

	syncPeriod := opts.SyncPeriod
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr, SecureServing: opts.MetricsAddr != "0"},
		HealthProbeBindAddress:  opts.HealthAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        opts.LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		Cache:                   cache.Options{SyncPeriod: &syncPeriod},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	rec := mgr.GetEventRecorder("bindery-backend")
	if err := (&exportrequest.Reconciler{Client: mgr.GetClient(), Recorder: rec}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the export request controller: %w", err)
	}
	if err := (&servicenamespace.Reconciler{Client: mgr.GetClient(), Recorder: rec}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the service namespace controller: %w", err)
	}
	if err := (&exportupdate.Reconciler{Client: mgr.GetClient(), Recorder: rec}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the export update controller: %w", err)
	}
	if err := (&clusterhealth.Reconciler{Client: mgr.GetClient(), Recorder: rec, DefaultInterval: opts.HeartbeatInterval}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the cluster health controller: %w", err)
	}
	if err := (&templatestatus.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the template status controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	log.Info("Starting controllers", "leaderElection", opts.LeaderElection)
	return mgr.Start(ctx)
}

func loadConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
