// Command bindery-backend runs on the control plane. It serves the
// browser binding flow behind OIDC login, turns APIServiceExportRequests
// into APIServiceExports, gives each consumer namespace its namespace and
// grants on the provider, and keeps exports and consumer health current.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/apis/memorylimit"
	"github.com/bindery-dev/bindery/backend/internal/app"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/options"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bindery-backend:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "issue-kubeconfig":
			return issueKubeconfig(os.Args[2:])
		case "rotate-keys":
			return rotateKeys(os.Args[2:])
		}
	}
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
	// With many consumers, the backend's caches grow with them.
	memorylimit.Set(ctrl.Log.WithName("bindery-backend"))

	cfg, err := kubeconfig.Load(opts.Controllers.Kubeconfig)
	if err != nil {
		return err
	}
	return app.Run(ctrl.SetupSignalHandler(), cfg, opts, ctrl.Log.WithName("bindery-backend"))
}

// issueKubeconfig onboards a consumer cluster without a login and prints
// its kubeconfig, for kubectl bind apiservice in CI/CD.
func issueKubeconfig(args []string) error {
	opts := app.Options{Controllers: options.NewControllers(), Server: options.NewServer()}
	fs := pflag.NewFlagSet("bindery-backend issue-kubeconfig", pflag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: bindery-backend issue-kubeconfig --subject <name> --cluster-id <id> [flags]\n\nOnboards a consumer cluster without a browser login and prints its provider\nkubeconfig (for kubectl bind apiservice --remote-kubeconfig). The cluster ID is\nwhat kubectl bind cluster-id prints in the consumer cluster.\n\nFlags:")
		fs.PrintDefaults()
	}
	subject := fs.String("subject", "", "Who the kubeconfig is for, e.g. ci-pipeline-42 (required).")
	clusterID := fs.String("cluster-id", "", "The consumer cluster's ID, from kubectl bind cluster-id (required).")
	fs.StringVar(&opts.Controllers.Kubeconfig, "kubeconfig", "", "Kubeconfig of the provider cluster; in-cluster config when empty.")
	fs.StringVar(&opts.Controllers.ProviderPrettyName, "provider-pretty-name", opts.Controllers.ProviderPrettyName, "The provider's name shown to consumers.")
	fs.StringVar(&opts.Server.ExternalAddress, "external-address", "", "The provider API server as consumers reach it.")
	fs.StringVar(&opts.Server.ExternalCAFile, "external-ca-file", "", "CA of --external-address.")
	fs.DurationVar(&opts.Server.TokenTTL, "token-ttl", opts.Server.TokenTTL, "Lifetime of the token; the running backend renews it in the ClusterBinding's Secret, which the konnector picks up.")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	if *subject == "" || *clusterID == "" {
		fs.Usage()
		return fmt.Errorf("--subject and --cluster-id are required")
	}
	if ttl := opts.Server.TokenTTL; ttl < options.MinTokenTTL || ttl > options.MaxTokenTTL {
		return fmt.Errorf("--token-ttl must be from %s to %s, not %s", options.MinTokenTTL, options.MaxTokenTTL, ttl)
	}
	cfg, err := kubeconfig.Load(opts.Controllers.Kubeconfig)
	if err != nil {
		return err
	}
	issued, err := app.IssueKubeconfig(ctrl.SetupSignalHandler(), cfg, opts, *subject, *clusterID)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(issued)
	return err
}

// rotateKeys replaces the session keys in the keys Secret; the previous
// ones stay accepted for one session lifetime by backends started after
// the rotation.
func rotateKeys(args []string) error {
	opts := options.NewServer()
	var kubeconfigPath string
	fs := pflag.NewFlagSet("bindery-backend rotate-keys", pflag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: bindery-backend rotate-keys [flags]\n\nReplaces the cookie keys in the keys Secret with new random ones. Restart the\nbackend afterwards (kubectl rollout restart deployment/bindery-backend): the\nrestarted replicas sign with the new keys and accept the previous ones for\n"+session.MaxLifetime.String()+", so logins in progress go on.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&kubeconfigPath, "kubeconfig", "", "Kubeconfig of the provider cluster; in-cluster config when empty.")
	fs.StringVar(&opts.Namespace, "namespace", opts.Namespace, "Namespace of the keys Secret.")
	fs.StringVar(&opts.KeysSecret, "keys-secret", opts.KeysSecret, "The keys Secret.")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	cfg, err := kubeconfig.Load(kubeconfigPath)
	if err != nil {
		return err
	}
	if err := app.RotateKeys(ctrl.SetupSignalHandler(), cfg, opts.Namespace, opts.KeysSecret); err != nil {
		return err
	}
	fmt.Printf("Rotated the keys in Secret %s/%s. Now restart the backend: kubectl -n %s rollout restart deployment/bindery-backend\n", opts.Namespace, opts.KeysSecret, opts.Namespace)
	return nil
}
