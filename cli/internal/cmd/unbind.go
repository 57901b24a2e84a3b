package cmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/bindery-dev/bindery/cli/internal/bind"
)

// OrphanAnnotation asks the konnector to keep provider objects.
const OrphanAnnotation = "bindery.dev/orphan"

type unbindOptions struct {
	orphan  bool
	yes     bool
	timeout time.Duration
}

func newUnbind(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &unbindOptions{}
	cmd := &cobra.Command{
		Use:   "unbind <binding>",
		Short: "Remove a binding and its objects from this cluster",
		Long: `unbind removes a binding. By default the konnector deletes every object of
the bound resource on the provider first (waiting for the provider's own
clean-up, e.g. cloud resources), then here, then the CRD. With --orphan the
provider keeps its objects and only this cluster's are removed.`,
		Example: `  kubectl bind unbind databases.db.example.com
  kubectl bind unbind databases.db.example.com --orphan --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			return unbind(cmd.Context(), c.dynamic, args[0], o, streams.In, streams.Out)
		},
	}
	cmd.Flags().BoolVar(&o.orphan, "orphan", false, "Keep the objects on the provider; remove only this cluster's.")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation.")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long to wait for the binding to be gone.")
	return cmd
}

func unbind(ctx context.Context, d dynamic.Interface, name string, o *unbindOptions, in io.Reader, out io.Writer) error {
	rc := d.Resource(bind.Bindings)
	b, err := rc.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("there is no binding %q (hint: kubectl bind list shows the bindings)", name)
	} else if err != nil {
		return fmt.Errorf("reading binding %s: %w", name, err)
	}
	consequence := "every " + name + " object is deleted on the provider first (with whatever the provider deletes with it), then here, then the CRD"
	if o.orphan {
		consequence = "the provider keeps its " + name + " objects, unmanaged; this cluster's objects and the CRD are deleted"
	}
	if !o.yes {
		fmt.Fprintf(out, "Unbinding %s: %s.\nContinue? [y/N] ", name, consequence) //nolint:errcheck
		line, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return fmt.Errorf("not unbound")
		}
	}
	if o.orphan && b.GetAnnotations()[OrphanAnnotation] != "true" {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, OrphanAnnotation)
		if _, err := rc.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("marking %s to orphan: %w", name, err)
		}
	}
	if err := rc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting binding %s: %w", name, err)
	}
	fmt.Fprintf(out, "Deleting %s; waiting for the konnector to clean up…\n", name) //nolint:errcheck
	// The binding goes when the konnector is done; its CRD (of the same
	// name) a moment later, once the API server has removed it.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, o.timeout, true, func(ctx context.Context) (bool, error) {
		if _, err := rc.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, nil
		}
		_, err := d.Resource(bind.CRDs).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("binding %s is still there after %s (hint: kubectl get apiservicebinding %s -o yaml shows what it waits for; is the konnector running?)", name, o.timeout, name)
	}
	fmt.Fprintf(out, "Unbound %s.\n", name) //nolint:errcheck
	return nil
}
