package cmd

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/cli/internal/bind"
)

func newList(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the bindings in this cluster",
		Example: `  kubectl bind list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			return list(cmd.Context(), c.dynamic, c.kube, streams.Out, time.Now())
		},
	}
}

// list prints each binding with its provider, resources, readiness and
// the age of the konnector's last heartbeat, read from the provider.
func list(ctx context.Context, d dynamic.Interface, kube kubernetes.Interface, out io.Writer, now time.Time) error {
	bl, err := d.Resource(bind.Bindings).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing APIServiceBindings: %w (hint: is anything bound here? kubectl bind <url> binds)", err)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPROVIDER\tRESOURCES\tREADY\tHEARTBEAT\tMESSAGE") //nolint:errcheck
	for _, b := range bl.Items {
		provider, _, _ := unstructured.NestedString(b.Object, "status", "providerPrettyName")
		ready, msg := "Unknown", ""
		if status, message, found := bind.Condition(&b, "Ready"); found {
			ready, msg = status, message
		}
		resources := b.GetAnnotations()[bind.ResourcesAnnotation]
		if resources == "" {
			resources = b.GetName()
		}
		if ns := b.GetAnnotations()[binderyv1alpha1.BindingNamespacesAnnotation]; ns != "" {
			resources += " in " + ns
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", b.GetName(), provider, resources, ready, heartbeatAge(ctx, kube, &b, now), msg) //nolint:errcheck
	}
	return w.Flush()
}

// heartbeatAge reads the provider's ClusterBinding with the binding's
// kubeconfig; "unknown" when the provider cannot be asked.
func heartbeatAge(ctx context.Context, kube kubernetes.Interface, b *unstructured.Unstructured, now time.Time) string {
	pd, pns, err := bind.ProviderOf(ctx, kube, b, 5*time.Second)
	if err != nil {
		return "unknown"
	}
	cb, err := pd.Resource(bind.Bindings.GroupVersion().WithResource("clusterbindings")).Namespace(pns).Get(ctx, "cluster", metav1.GetOptions{})
	if err != nil {
		return "unknown"
	}
	raw, _, _ := unstructured.NestedString(cb.Object, "status", "lastHeartbeatTime")
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return "never"
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}
