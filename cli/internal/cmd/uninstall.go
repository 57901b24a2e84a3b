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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/cli/internal/bind"
	"github.com/bindery-dev/bindery/konnector/deploy"
)

type uninstallOptions struct {
	all     bool
	yes     bool
	timeout time.Duration
}

func newUninstall(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &uninstallOptions{}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the konnector and everything kubectl bind created from this cluster",
		Long: `uninstall removes what kubectl bind created in this cluster: the konnector
(its Deployment, ServiceAccount and permissions, rendered from the same chart
kubectl bind deploys), the provider kubeconfigs, this cluster's key, the
APIServiceBinding CRD, and the kube-bind namespace when nothing else is in it.

It refuses while bindings remain, whose objects would be left without a
konnector: unbind them first, or pass --all to unbind them first.`,
		Example: `  kubectl bind uninstall
  kubectl bind uninstall --all --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientsFor(flags)
			if err != nil {
				return err
			}
			return uninstall(cmd.Context(), c.dynamic, c.kube, o, streams.In, streams.Out)
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Unbind every binding first (as kubectl bind unbind --all).")
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation.")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long to wait for each binding, and then for the removal.")
	return cmd
}

func uninstall(ctx context.Context, d dynamic.Interface, kube kubernetes.Interface, o *uninstallOptions, in io.Reader, out io.Writer) error {
	var bound []string
	bl, err := d.Resource(bind.Bindings).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("listing APIServiceBindings: %w", err)
	}
	if bl != nil {
		for _, b := range bl.Items {
			bound = append(bound, b.GetName())
		}
	}
	if len(bound) > 0 && !o.all {
		return fmt.Errorf("%d binding(s) remain: %s; their objects would be left without a konnector (hint: kubectl bind unbind --all first, or pass --all)", len(bound), strings.Join(bound, ", "))
	}
	if !o.yes {
		msg := "Uninstalling removes the konnector, its permissions, the provider kubeconfigs, this cluster's key and the APIServiceBinding CRD"
		if len(bound) > 0 {
			msg = "Uninstalling first unbinds " + strings.Join(bound, ", ") + " (deleting their objects on the providers and here), then removes the konnector, its permissions, the provider kubeconfigs, this cluster's key and the APIServiceBinding CRD"
		}
		if err := confirm(in, out, msg+".", "not uninstalled"); err != nil {
			return err
		}
	}
	if err := unbindAll(ctx, d, kube, &unbindOptions{yes: true, timeout: o.timeout}, nil, out); err != nil {
		return err
	}
	if err := deleteKonnector(ctx, d, out); err != nil {
		return err
	}
	if err := kube.CoreV1().Secrets(bind.Namespace).Delete(ctx, bindprotocol.ClusterSecretName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting this cluster's key: %w", err)
	}
	for _, gr := range crds.Consumer {
		if err := d.Resource(bind.CRDs).Delete(ctx, gr.String(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting CRD %s: %w", gr, err)
		}
	}
	kept, err := deleteNamespaceIfOurs(ctx, kube)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, o.timeout, true, func(ctx context.Context) (bool, error) {
		for _, gr := range crds.Consumer {
			if _, err := d.Resource(bind.CRDs).Get(ctx, gr.String(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		if kept != "" {
			return true, nil
		}
		_, err = kube.CoreV1().Namespaces().Get(ctx, bind.Namespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("the APIServiceBinding CRD or namespace %s is still there after %s (hint: kubectl get crd %s; kubectl get namespace %s -o yaml shows what it waits for)", bind.Namespace, o.timeout, crds.APIServiceBindings, bind.Namespace)
	}
	if kept != "" {
		fmt.Fprintf(out, "Kept namespace %s, which holds %s that kubectl bind did not create.\n", bind.Namespace, kept) //nolint:errcheck
	}
	fmt.Fprintln(out, "Uninstalled.") //nolint:errcheck
	return nil
}

// deleteKonnector deletes the konnector's objects, as the chart kubectl
// bind deploys renders them, in the chart's order (its templates sorted
// by name: the Deployment, which uses the others, comes first).
func deleteKonnector(ctx context.Context, d dynamic.Interface, out io.Writer) error {
	objs, err := deploy.Render(deploy.Options{Namespace: bind.Namespace})
	if err != nil {
		return err
	}
	for _, obj := range objs {
		gvr, err := deploy.Resource(obj)
		if err != nil {
			return err
		}
		var rc dynamic.ResourceInterface = d.Resource(gvr)
		if obj.GetNamespace() != "" {
			rc = d.Resource(gvr).Namespace(obj.GetNamespace())
		}
		foreground := metav1.DeletePropagationForeground
		err = rc.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &foreground})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("deleting the konnector's %s %s: %w", obj.GetKind(), obj.GetName(), err)
		default:
			fmt.Fprintf(out, "Deleted the konnector's %s %s.\n", obj.GetKind(), obj.GetName()) //nolint:errcheck
		}
	}
	return nil
}

// deleteNamespaceIfOurs deletes the kube-bind namespace unless it holds
// Secrets, ConfigMaps or workloads that kubectl bind did not create, and
// then returns what it holds.
func deleteNamespaceIfOurs(ctx context.Context, kube kubernetes.Interface) (string, error) {
	var others []string
	secrets, err := kube.CoreV1().Secrets(bind.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing Secrets in %s: %w", bind.Namespace, err)
	}
	for _, s := range secrets.Items {
		others = append(others, "Secret "+s.Name)
	}
	cms, err := kube.CoreV1().ConfigMaps(bind.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing ConfigMaps in %s: %w", bind.Namespace, err)
	}
	for _, c := range cms.Items {
		if c.Name != "kube-root-ca.crt" { // every namespace has it
			others = append(others, "ConfigMap "+c.Name)
		}
	}
	pods, err := kube.CoreV1().Pods(bind.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing Pods in %s: %w", bind.Namespace, err)
	}
	for _, p := range pods.Items {
		if p.Labels["app.kubernetes.io/name"] != "konnector" { // going with its Deployment
			others = append(others, "Pod "+p.Name)
		}
	}
	if len(others) > 0 {
		return strings.Join(others, ", "), nil
	}
	if err := kube.CoreV1().Namespaces().Delete(ctx, bind.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("deleting namespace %s: %w", bind.Namespace, err)
	}
	return "", nil
}
