package cmd

import (
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
	"k8s.io/client-go/kubernetes"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/cli/internal/bind"
)

type unbindOptions struct {
	orphan  bool
	yes     bool
	all     bool
	timeout time.Duration
}

func newUnbind(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &unbindOptions{}
	cmd := &cobra.Command{
		Use:   "unbind <binding> | --all",
		Short: "Remove a binding and its objects from this cluster",
		Long: `unbind removes a binding. By default the konnector deletes every object of
the bound resource on the provider first (waiting for the provider's own
clean-up, e.g. cloud resources), then here, then the CRD. With --orphan the
provider keeps its objects and only this cluster's are removed.

With --all it removes every binding, then the provider kubeconfigs kubectl
bind stored. The provider deprovisions the cluster once its last binding is
gone. kubectl bind uninstall then removes the konnector too.`,
		Example: `  kubectl bind unbind databases.db.example.com
  kubectl bind unbind databases.db.example.com --orphan --yes
  kubectl bind unbind --all`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case o.all && len(args) > 0:
				return fmt.Errorf("name a binding or pass --all, not both")
			case !o.all && len(args) != 1:
				return fmt.Errorf("name the binding to remove (kubectl bind list shows them), or pass --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			if o.all {
				return unbindAll(cmd.Context(), c.dynamic, c.kube, o, streams.In, streams.Out)
			}
			return unbind(cmd.Context(), c.dynamic, args[0], o, streams.In, streams.Out)
		},
	}
	cmd.Flags().BoolVar(&o.orphan, "orphan", false, "Keep the objects on the provider; remove only this cluster's.")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation.")
	cmd.Flags().BoolVar(&o.all, "all", false, "Remove every binding, then the provider kubeconfigs kubectl bind stored.")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long to wait for each binding to be gone.")
	return cmd
}

// unbindAll removes every binding, one after another, after one
// confirmation, and then the provider kubeconfig Secrets kubectl bind
// stored, which no binding needs any more.
func unbindAll(ctx context.Context, d dynamic.Interface, kube kubernetes.Interface, o *unbindOptions, in io.Reader, out io.Writer) error {
	bl, err := d.Resource(bind.Bindings).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("listing APIServiceBindings: %w", err)
	}
	var names []string
	if bl != nil {
		for _, b := range bl.Items {
			names = append(names, b.GetName())
		}
	}
	if len(names) > 0 && !o.yes {
		what := "every object of each is deleted on the provider first, then here, then the CRDs"
		if o.orphan {
			what = "the providers keep their objects, unmanaged; this cluster's objects and the CRDs are deleted"
		}
		if err := confirm(in, out, fmt.Sprintf("Unbinding all of %s: %s.", strings.Join(names, ", "), what), "not unbound"); err != nil {
			return err
		}
	}
	each := *o
	each.yes = true
	for _, name := range names {
		if err := unbind(ctx, d, name, &each, nil, out); err != nil {
			return err
		}
	}
	removed, err := bind.DeleteProviderKubeconfigs(ctx, kube)
	if err != nil {
		return err
	}
	for _, name := range removed {
		fmt.Fprintf(out, "Deleted the provider kubeconfig Secret %s/%s.\n", bind.Namespace, name) //nolint:errcheck
	}
	if len(names) == 0 {
		fmt.Fprintln(out, "Nothing is bound.") //nolint:errcheck
	}
	return nil
}

func unbind(ctx context.Context, d dynamic.Interface, name string, o *unbindOptions, in io.Reader, out io.Writer) error {
	rc := d.Resource(bind.Bindings)
	b, err := rc.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("there is no binding %q (hint: kubectl bind list shows the bindings)", name)
	} else if err != nil {
		return fmt.Errorf("reading binding %s: %w", name, err)
	}
	crd := contract.ExportOf(name, b.GetAnnotations())
	shared, err := sharedWith(ctx, d, name, crd)
	if err != nil {
		return err
	}
	objects, theCRD := "every "+crd+" object", ", then the CRD"
	if ns := b.GetAnnotations()[binderyv1alpha1.BindingNamespacesAnnotation]; ns != "" {
		objects = "every " + crd + " object in " + ns
	}
	if len(shared) > 0 {
		theCRD = "; the CRD stays for " + strings.Join(shared, ", ")
	}
	consequence := objects + " is deleted on the provider first (with whatever the provider deletes with it), then here" + theCRD
	if o.orphan {
		consequence = "the provider keeps " + strings.TrimPrefix(objects, "every ") + ", unmanaged; they are deleted here" + theCRD
	}
	if !o.yes {
		if err := confirm(in, out, fmt.Sprintf("Unbinding %s: %s.", name, consequence), "not unbound"); err != nil {
			return err
		}
	}
	if o.orphan && b.GetAnnotations()[binderyv1alpha1.OrphanAnnotation] != "true" {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, binderyv1alpha1.OrphanAnnotation)
		if _, err := rc.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("marking %s to orphan: %w", name, err)
		}
	}
	if err := rc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting binding %s: %w", name, err)
	}
	fmt.Fprintf(out, "Deleting %s; waiting for the konnector to clean up…\n", name) //nolint:errcheck
	// The binding goes when the konnector is done; its CRD a moment
	// later, once the API server has removed it, unless other bindings of
	// the resource share it.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, o.timeout, true, func(ctx context.Context) (bool, error) {
		if _, err := rc.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, nil
		}
		if len(shared) > 0 {
			return true, nil
		}
		_, err := d.Resource(bind.CRDs).Get(ctx, crd, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("binding %s is still there after %s (hint: kubectl get apiservicebinding %s -o yaml shows what it waits for; is the konnector running?)", name, o.timeout, name)
	}
	fmt.Fprintf(out, "Unbound %s.\n", name) //nolint:errcheck
	narrowed, err := bind.RefreshKonnectorGrant(ctx, d, bind.Namespace)
	if err != nil {
		return err
	}
	if narrowed {
		fmt.Fprintln(out, "The konnector is granted only what the remaining bindings need.") //nolint:errcheck
	}
	return nil
}

// sharedWith names the other bindings of the resource crd than binding
// name: bindings limited to other namespaces, from other providers.
func sharedWith(ctx context.Context, d dynamic.Interface, name, crd string) ([]string, error) {
	list, err := d.Resource(bind.Bindings).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing bindings: %w", err)
	}
	var out []string
	for _, b := range list.Items {
		if b.GetName() != name && contract.ExportOf(b.GetName(), b.GetAnnotations()) == crd {
			out = append(out, b.GetName())
		}
	}
	return out, nil
}
