package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/bindery-dev/bindery/cli/internal/bind"
)

type apiserviceOptions struct {
	remoteKubeconfig string
	files            []string
	skipKonnector    bool
	konnectorImage   string
	timeout          time.Duration
	dryRun           bool
	namespaces       []string
	insecureTLS      bool
}

func newAPIService(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, verbose *bool) *cobra.Command {
	o := &apiserviceOptions{}
	cmd := &cobra.Command{
		Use:   "apiservice --remote-kubeconfig <file> -f <request.yaml>",
		Short: "Bind without a browser, with a provider kubeconfig issued beforehand (for CI/CD)",
		Long: `apiservice binds without a login: it uses a kubeconfig the provider issued
beforehand (bindery-backend issue-kubeconfig) and APIServiceExportRequests
from files, and then does what kubectl bind <url> does after the login.`,
		Example: `  kubectl bind apiservice --remote-kubeconfig provider.kubeconfig -f postgres-request.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.remoteKubeconfig == "" || len(o.files) == 0 {
				return errors.New("--remote-kubeconfig and -f are required (hint: kubectl bind apiservice --help)")
			}
			kubeconfig, err := os.ReadFile(o.remoteKubeconfig)
			if err != nil {
				return fmt.Errorf("reading --remote-kubeconfig: %w", err)
			}
			resp := &kubebindv1alpha1.BindingResponse{Kubeconfig: kubeconfig}
			for _, f := range o.files {
				reqs, err := readRequests(f, streams.In)
				if err != nil {
					return err
				}
				resp.Requests = append(resp.Requests, reqs...)
			}
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			res, err := bind.Apply(cmd.Context(), resp, bind.ApplyOptions{
				Consumer: c.config, SkipKonnector: o.skipKonnector, KonnectorImage: o.konnectorImage, ProviderInsecureTLS: o.insecureTLS,
				Timeout: o.timeout, Out: streams.Out, Verbose: *verbose, DryRun: o.dryRun, Namespaces: o.namespaces,
			})
			if err != nil {
				fmt.Fprint(streams.ErrOut, res.Leftovers()) //nolint:errcheck
				return err
			}
			if o.dryRun {
				return nil
			}
			fmt.Fprintf(streams.Out, "Bound %v.\n", res.Resources) //nolint:errcheck
			return nil
		},
	}
	cmd.Flags().StringVar(&o.remoteKubeconfig, "remote-kubeconfig", "", "The provider kubeconfig issued for this cluster.")
	cmd.Flags().StringSliceVarP(&o.files, "filename", "f", nil, "Files with APIServiceExportRequests (YAML or JSON; - for standard input).")
	cmd.Flags().BoolVar(&o.skipKonnector, "skip-konnector", false, "Do not deploy or upgrade the konnector.")
	cmd.Flags().StringVar(&o.konnectorImage, "konnector-image", "", "Konnector image (repository:tag).")
	cmd.Flags().BoolVar(&o.insecureTLS, "provider-insecure-skip-tls-verify", false, "Accept a provider kubeconfig that skips TLS verification.")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "How long to wait for the provider and for the binding to be Ready.")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print every object the bind would create, and create nothing.")
	cmd.Flags().StringSliceVarP(&o.namespaces, "namespace", "n", nil, namespaceFlagHelp)
	return cmd
}

// readRequests reads the APIServiceExportRequests of a YAML or JSON file.
func readRequests(path string, stdin io.Reader) ([]runtime.RawExtension, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var out []runtime.RawExtension
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s is not YAML or JSON: %w", path, err)
		}
		if obj == nil {
			continue
		}
		if obj["kind"] != "APIServiceExportRequest" {
			return nil, fmt.Errorf("%s holds a %v; only APIServiceExportRequests can be bound (hint: see kubectl bind apiservice --help)", path, obj["kind"])
		}
		j, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, runtime.RawExtension{Raw: j})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no APIServiceExportRequest", path)
	}
	return out, nil
}
