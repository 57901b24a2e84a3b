package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/cli/internal/bind"
)

func newAcceptClaims(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	yes := false
	cmd := &cobra.Command{
		Use:   "accept-claims <binding>",
		Short: "Review and accept the related objects a provider asks to copy",
		Long: `A binding copies the related Secrets and ConfigMaps (permission claims)
that its user accepted at bind time. When the provider later asks for more,
the binding's ClaimsAccepted condition turns False and nothing more is
copied. accept-claims shows what the provider asks for now, marks what is
new, and, once confirmed, records it as accepted; what the provider no
longer asks for is dropped.`,
		Example: `  kubectl bind accept-claims databases.db.example.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			return acceptClaims(cmd.Context(), c.dynamic, c.kube, args[0], yes, streams.In, streams.Out)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}

// acceptClaims records the claims of the binding's export as accepted on
// the binding, after showing them, and lets the konnector's grant follow.
func acceptClaims(ctx context.Context, d dynamic.Interface, kube kubernetes.Interface, name string, yes bool, in io.Reader, out io.Writer) error {
	b, err := d.Resource(bind.Bindings).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("there is no binding %q (hint: kubectl bind list shows the bindings)", name)
	} else if err != nil {
		return fmt.Errorf("reading binding %s: %w", name, err)
	}
	provider, pns, err := bind.ProviderOf(ctx, kube, b, 30*time.Second)
	if err != nil {
		return err
	}
	export, err := provider.Resource(bind.Exports).Namespace(pns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the provider's APIServiceExport %s: %w", name, err)
	}
	offered, err := contract.ReadExport(export.GetAnnotations())
	if err != nil {
		return fmt.Errorf("the provider's APIServiceExport %s: %w (hint: tell the provider's operators)", name, err)
	}
	current, err := contract.ReadBinding(b.GetAnnotations())
	if err != nil {
		fmt.Fprintf(out, "The claims recorded on %s cannot be read (%v); they are replaced.\n", name, err) //nolint:errcheck
	}
	accepted, pending := current.Split(offered.Claims)
	if len(pending) == 0 && len(accepted) == len(current.AcceptedClaims) {
		fmt.Fprintf(out, "Nothing to accept: %s copies what its provider asks for.\n", name) //nolint:errcheck
		return nil
	}
	if len(offered.Claims) == 0 {
		fmt.Fprintf(out, "The provider of %s no longer asks to copy related objects.\n", name) //nolint:errcheck
	} else {
		fmt.Fprintf(out, "The provider of %s asks to copy:\n", name) //nolint:errcheck
		for _, c := range offered.Claims {
			mark := "  "
			if !current.Accepts(c) {
				mark = "+ "
			}
			fmt.Fprintf(out, "%s%s\n", mark, contract.Describe(c)) //nolint:errcheck
		}
		fmt.Fprintln(out, "(+ is new)") //nolint:errcheck
	}
	if !yes {
		if err := confirm(in, out, "Accepting this for "+name+".", "not accepted; "+name+" copies only what was accepted before"); err != nil {
			return err
		}
	}
	if err := recordAccepted(ctx, d, name, offered.Claims); err != nil {
		return err
	}
	fmt.Fprintf(out, "Accepted; the konnector copies them for %s now.\n", name) //nolint:errcheck
	narrowed, err := bind.RefreshKonnectorGrant(ctx, d, bind.Namespace)
	if err != nil {
		return err
	}
	if narrowed {
		fmt.Fprintln(out, "The konnector is granted what the bindings' accepted claims need.") //nolint:errcheck
	}
	return nil
}

// recordAccepted sets the binding's accepted claims.
func recordAccepted(ctx context.Context, d dynamic.Interface, name string, claims []binderyv1alpha1.PermissionClaim) error {
	a := map[string]string{}
	if err := (contract.BindingSettings{AcceptedClaims: claims}).WriteBinding(a); err != nil {
		return err
	}
	value := any(nil)
	if v, ok := a[binderyv1alpha1.AcceptedClaimsAnnotation]; ok {
		value = v
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{binderyv1alpha1.AcceptedClaimsAnnotation: value}}})
	if err != nil {
		return err
	}
	if _, err := d.Resource(bind.Bindings).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("recording the accepted claims of %s: %w", name, err)
	}
	return nil
}
