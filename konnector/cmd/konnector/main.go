// Command konnector runs in a consumer cluster. For each APIServiceBinding
// it installs the provider's CRD and keeps objects in sync with the
// provider: spec down, status up.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/apis/clusterid"
	"github.com/bindery-dev/bindery/apis/controllerqueue"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/apis/memorylimit"
	"github.com/bindery-dev/bindery/apis/metricsauth"
	"github.com/bindery-dev/bindery/apis/version"
	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/konnector/internal/dynamicclient"
	"github.com/bindery-dev/bindery/konnector/internal/options"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
	"github.com/bindery-dev/bindery/konnector/internal/requestmetrics"
	"github.com/bindery-dev/bindery/konnector/internal/scheme"
)

// gcPercent is how far the konnector's heap grows past what is live
// before the next collection, unless GOGC says otherwise. What is live is
// small (about 4 MiB, and 1.7 KiB per synced object) while a burst
// allocates fast, so at Go's default, 100, the heap between collections
// is most of the konnector's memory: 10,000 objects peaked at
// 88.7–101.2 MiB with 100 and at 75.6–85.3 MiB with 50, which cost the
// konnector 13–26 % more CPU per object, about 2 % of the machine's
// (docs/performance.md, "Memory at 10,000 objects", with every run).
const gcPercent = 50

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "konnector:", err)
		os.Exit(1)
	}
}

func run() error {
	o := options.New()
	fs := pflag.NewFlagSet("konnector", pflag.ExitOnError)
	o.AddFlags(fs)
	fs.Parse(os.Args[1:]) //nolint:errcheck // ExitOnError
	if err := o.Validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New())
	log := ctrl.Log.WithName("konnector")
	// Under a burst the heap grows between collections.
	memorylimit.Set(log)
	memorylimit.SetGCPercent(log, gcPercent)

	cfg, err := kubeconfig.Load(o.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = o.ConsumerQPS, o.ConsumerBurst
	cfg.UserAgent = "bindery-konnector/" + version.Version
	requestmetrics.Instrument(cfg, "consumer")
	ctx := ctrl.SetupSignalHandler()
	direct, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	if err := crds.Install(ctx, direct, crds.Consumer...); err != nil {
		return fmt.Errorf("installing the APIServiceBinding CRD: %w", err)
	}
	clusterID, err := clusterID(ctx, cfg)
	if err != nil {
		return err
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Controller:              controllerqueue.Config(),
		Scheme:                  scheme.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.MetricsAddr != "0", FilterProvider: metricsauth.WithAuthenticationAndAuthorization},
		HealthProbeBindAddress:  o.HealthAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		PprofBindAddress:        o.PprofAddr,
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}: {Namespaces: map[string]cache.Config{o.SecretNamespace: {}}},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	dyn, err := dynamicclient.New(cfg)
	if err != nil {
		return err
	}
	r := &binding.Reconciler{
		Client: mgr.GetClient(), Consumer: dyn, Recorder: mgr.GetEventRecorder("konnector"),
		ClusterID: clusterID, Version: version.Version, HeartbeatInterval: o.HeartbeatInterval,
		Limits:      provider.Limits{QPS: o.ProviderQPS, Burst: o.ProviderBurst},
		SyncWorkers: o.SyncWorkers, Log: log,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	// Syncers run outside reconciles; stop them with the manager.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		r.StopAll()
		return nil
	})); err != nil {
		return err
	}
	if o.HealthAddr != "0" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return err
		}
	}
	log.Info("Starting", "version", version.Version, "clusterID", clusterID)
	return mgr.Start(ctx)
}

// clusterID identifies this cluster on providers (see apis/clusterid).
func clusterID(ctx context.Context, cfg *rest.Config) (string, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	return clusterid.Get(ctx, kube)
}
