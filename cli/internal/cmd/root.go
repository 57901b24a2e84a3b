// Package cmd holds kubectl-bind's commands.
package cmd

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/bindery-dev/bindery/apis/clusterid"
	"github.com/bindery-dev/bindery/cli/internal/bind"
)

// bindOptions are the flags of kubectl bind <url>.
type bindOptions struct {
	flags          *genericclioptions.ConfigFlags
	streams        genericiooptions.IOStreams
	noBrowser      bool
	loginTimeout   time.Duration
	timeout        time.Duration
	skipKonnector  bool
	konnectorImage string
	verbose        bool
	dryRun         bool
	insecureHTTP   bool
	insecureTLS    bool
	namespaces     []string
}

// NewRoot returns `kubectl bind`.
func NewRoot(streams genericiooptions.IOStreams) *cobra.Command {
	o := &bindOptions{flags: genericclioptions.NewConfigFlags(true), streams: streams}
	// --namespace limits a binding (below); no command works in the
	// kubeconfig's namespace.
	o.flags.Namespace = nil
	cmd := &cobra.Command{
		Use:   "kubectl-bind <url>",
		Short: "Bind APIs from a Bindery or kube-bind provider into this cluster",
		Long: `kubectl bind connects this cluster to a service provider: you log in to the
provider in the browser and choose a service; kubectl bind then creates
the binding here, deploys the konnector, and waits until the service's API
is ready to use.`,
		Example: `  # Bind from a provider; a browser opens for the login
  kubectl bind https://bindery.example.com/export

  # On a machine without a browser, print the login URL instead
  kubectl bind https://bindery.example.com/export --no-browser

  # Bind only for the namespaces team-a and team-b; another provider can
  # then serve the same resource to other namespaces
  kubectl bind https://bindery.example.com/export --namespace team-a,team-b

  # See what is bound
  kubectl bind list`,
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return o.run(cmd.Context(), args[0])
		},
	}
	o.flags.AddFlags(cmd.PersistentFlags())
	cmd.Flags().BoolVar(&o.noBrowser, "no-browser", false, "Print the login URL instead of opening a browser.")
	cmd.Flags().DurationVar(&o.loginTimeout, "login-timeout", 5*time.Minute, "How long to wait for the login in the browser.")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "How long to wait for the provider and for the binding to be Ready.")
	cmd.Flags().BoolVar(&o.skipKonnector, "skip-konnector", false, "Do not deploy or upgrade the konnector.")
	cmd.Flags().StringVar(&o.konnectorImage, "konnector-image", "", "Konnector image (repository:tag) instead of the one matching this kubectl-bind.")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "After the login, print every object the bind would create, and create nothing but this cluster's key (Secret kube-bind/bindery-cluster-key), which the login needs.")
	cmd.Flags().BoolVar(&o.insecureHTTP, bind.InsecureHTTPFlag, false, "Allow a provider at a plain http:// address outside this machine. Your login and the provider's credentials then travel unencrypted: anyone on the way can read them or hand you a kubeconfig of their own.")
	cmd.Flags().BoolVar(&o.insecureTLS, "provider-insecure-skip-tls-verify", false, "Accept a provider kubeconfig that skips TLS verification. The konnector then talks to the provider without checking whom it talks to.")
	cmd.Flags().StringSliceVarP(&o.namespaces, "namespace", "n", nil, namespaceFlagHelp)
	cmd.PersistentFlags().BoolVarP(&o.verbose, "verbose", "v", false, "Print how long each phase took.")
	cmd.AddCommand(newList(o.flags, streams), newUnbind(o.flags, streams), newTemplates(streams), newAPIService(o.flags, streams, &o.verbose), newClusterID(o.flags, streams), newUninstall(o.flags, streams), newAcceptClaims(o.flags, streams))
	return cmd
}

// namespaceFlagHelp explains --namespace, of kubectl bind and kubectl
// bind apiservice.
const namespaceFlagHelp = "Limit the binding to these namespaces of this cluster (repeat, or separate with commas): objects elsewhere are not synced. " +
	"One resource can be bound from several providers this way, each for its own namespaces, when they offer the same schema."

func (o *bindOptions) run(ctx context.Context, url string) error {
	start := time.Now()
	c, err := clientsFor(o.flags)
	if err != nil {
		return err
	}
	cfg := c.config
	id, err := clusterid.Get(ctx, c.kube)
	if err != nil {
		return &bind.Error{Msg: "cannot reach the consumer cluster at " + cfg.Host, Hint: "check --kubeconfig and --context, and that the cluster is up", Err: err}
	}
	httpClient := &http.Client{Timeout: 30 * time.Second}
	p, err := bind.FetchProvider(ctx, httpClient, url, bind.FetchOptions{InsecureHTTP: o.insecureHTTP})
	if err != nil {
		return err
	}
	key, err := bind.ClusterKey(ctx, c.kube, bind.AuthorizeURL(p))
	if err != nil {
		return err
	}
	fmt.Fprintf(o.streams.Out, "Binding from %s\n", p.ProviderPrettyName) //nolint:errcheck
	resp, err := bind.Login(ctx, p, bind.LoginOptions{ClusterID: id, ClusterKey: key, HTTPClient: httpClient, NoBrowser: o.noBrowser, Timeout: o.loginTimeout, Out: o.streams.ErrOut})
	if err != nil {
		return err
	}
	loggedIn := time.Now()
	res, err := bind.Apply(ctx, resp, bind.ApplyOptions{
		Consumer: cfg, SkipKonnector: o.skipKonnector, KonnectorImage: o.konnectorImage, ProviderInsecureTLS: o.insecureTLS,
		Timeout: o.timeout, Out: o.streams.Out, Verbose: o.verbose, DryRun: o.dryRun, Namespaces: o.namespaces,
	})
	if err != nil {
		fmt.Fprint(o.streams.ErrOut, res.Leftovers()) //nolint:errcheck
		return err
	}
	if o.dryRun {
		return nil
	}
	if o.verbose {
		fmt.Fprintf(o.streams.Out, "Took %s after the login (%s in all).\n", time.Since(loggedIn).Round(time.Millisecond), time.Since(start).Round(time.Millisecond)) //nolint:errcheck
	}
	fmt.Fprintf(o.streams.Out, "\nBound %d resource(s) from %s. Next:\n", len(res.Resources), p.ProviderPrettyName) //nolint:errcheck
	for _, r := range res.Resources {
		if len(o.namespaces) > 0 {
			fmt.Fprintf(o.streams.Out, "  kubectl get %s -n %s\n", r, o.namespaces[0]) //nolint:errcheck
			continue
		}
		fmt.Fprintf(o.streams.Out, "  kubectl get %s\n", r) //nolint:errcheck
	}
	fmt.Fprintln(o.streams.Out, "  kubectl bind list") //nolint:errcheck
	return nil
}
