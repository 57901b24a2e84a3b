// Command bindery-backend runs on the control plane. It serves the
// browser binding flow behind OIDC login, turns APIServiceExportRequests
// into APIServiceExports, gives each consumer namespace its namespace and
// grants on the provider, and keeps exports and consumer health current.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bindery-dev/bindery/backend/internal/app"
	"github.com/bindery-dev/bindery/backend/internal/options"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bindery-backend:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := app.Options{Controllers: options.NewControllers(), Server: options.NewServer()}
	zapOpts := zap.Options{}
	fs := pflag.NewFlagSet("bindery-backend", pflag.ExitOnError)
	opts.Controllers.AddFlags(fs)
	opts.Server.AddFlags(fs)
	fs.Parse(os.Args[1:]) //nolint:errcheck // ExitOnError
	if err := opts.Controllers.Validate(); err != nil {
		return err
	}
	if err := opts.Server.Validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	cfg, err := loadConfig(opts.Controllers.Kubeconfig)
	if err != nil {
		return err
	}
	return app.Run(ctrl.SetupSignalHandler(), cfg, opts, ctrl.Log.WithName("bindery-backend"))
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
