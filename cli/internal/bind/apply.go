package bind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
)

// Resources of the kube-bind API.
var (
	ExportRequests = kubebindv1alpha1.SchemeGroupVersion.WithResource("apiserviceexportrequests")
	Exports        = kubebindv1alpha1.SchemeGroupVersion.WithResource("apiserviceexports")
	Bindings       = kubebindv1alpha1.SchemeGroupVersion.WithResource("apiservicebindings")
	CRDs           = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// ResourcesAnnotation, on an APIServiceBinding, lists its resources for
// `kubectl get apiservicebindings -o wide`, as kube-bind's CLI sets it.
const ResourcesAnnotation = "kube-bind.io/resources"

// FieldManager is kubectl bind's server-side apply field manager.
const FieldManager = "kubectl-bind"

// ApplyOptions configure the Kubernetes side of a bind.
type ApplyOptions struct {
	// Consumer is the consumer cluster's config.
	Consumer *rest.Config
	// Namespace holds the kubeconfig Secrets and the konnector.
	Namespace string
	// SkipKonnector leaves the konnector alone.
	SkipKonnector bool
	// KonnectorImage overrides the chart's image.
	KonnectorImage string
	// ProviderInsecureTLS accepts insecure-skip-tls-verify in the
	// provider's kubeconfig, and marks the stored Secret so that the
	// konnector accepts it too.
	ProviderInsecureTLS bool
	// Timeout bounds each wait.
	Timeout time.Duration
	// Out receives the phases; Verbose adds their durations.
	Out     io.Writer
	Verbose bool
	// Namespaces, when set, limit the bindings to these consumer
	// namespaces (--namespace): one resource can then be bound from
	// several providers, each for its own namespaces.
	Namespaces []string
	// DryRun prints every object the bind would create or change, as
	// YAML, and changes nothing.
	DryRun bool
}

// Result is what a bind created.
type Result struct {
	Namespace string
	Secret    string
	// Requests are the export requests created on the provider.
	Requests []string
	Bindings []string
	// Resources are the bound resources, "resource.group".
	Resources []string
}

// Leftovers says, after a failed bind, what it left in place and how to
// remove it; empty when nothing was created.
func (r *Result) Leftovers() string {
	if r == nil || r.Secret == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("The bind stopped half-way; it left in place:\n")
	for _, name := range r.Bindings {
		fmt.Fprintf(&b, "  APIServiceBinding %s       remove: kubectl bind unbind %s --yes\n", name, name)
	}
	fmt.Fprintf(&b, "  Secret %s/%s       remove: kubectl delete secret -n %s %s\n", r.Namespace, r.Secret, r.Namespace, r.Secret)
	for _, name := range r.Requests {
		fmt.Fprintf(&b, "  APIServiceExportRequest %s on the provider (the provider cleans it up)\n", name)
	}
	b.WriteString("Or run the bind again: it reuses what is there.\n")
	return b.String()
}

// phase prints a phase as it ends, with its duration when verbose.
type phases struct {
	out     io.Writer
	verbose bool
	start   time.Time
}

func (p *phases) done(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.verbose {
		msg += fmt.Sprintf(" (%s)", time.Since(p.start).Round(time.Millisecond))
	}
	_, _ = fmt.Fprintln(p.out, "✓ "+msg)
	p.start = time.Now()
}

// Apply does what a BindingResponse asks: it stores the provider
// kubeconfig in the consumer, creates the export requests on the provider
// and waits for them, creates the APIServiceBindings, deploys the
// konnector and waits until the bindings are Ready.
func Apply(ctx context.Context, resp *kubebindv1alpha1.BindingResponse, o ApplyOptions) (*Result, error) {
	ph := &phases{out: o.Out, verbose: o.Verbose, start: time.Now()}
	if o.Namespace == "" {
		o.Namespace = Namespace
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	accepted := kubeconfig.ProviderOptions{AllowInsecureTLS: o.ProviderInsecureTLS}
	provider, providerNS, host, err := providerClient(resp.Kubeconfig, accepted)
	if err != nil {
		return nil, err
	}
	consumer, err := dynamic.NewForConfig(o.Consumer)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(o.Consumer)
	if err != nil {
		return nil, err
	}

	plan, err := planBindings(ctx, consumer, resp, o.Namespace, SecretName(host, providerNS), host, o.Namespaces)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		return nil, printDryRun(ctx, consumer, resp, o, host, providerNS, plan)
	}
	secret, err := ensureSecret(ctx, kube, o.Namespace, host, providerNS, resp.Kubeconfig, accepted)
	if err != nil {
		return nil, err
	}
	ph.done("Stored the provider's kubeconfig in Secret %s/%s", o.Namespace, secret)

	res := &Result{Namespace: o.Namespace, Secret: secret}
	claims := map[string][]binderyv1alpha1.PermissionClaim{}
	for _, raw := range resp.Requests {
		req, err := decodeRequest(raw)
		if err != nil {
			return res, err
		}
		if err := createRequest(ctx, provider, providerNS, req); err != nil {
			return res, err
		}
		res.Requests = append(res.Requests, req.GetName())
		if err := waitRequest(ctx, provider, providerNS, req.GetName(), o.Timeout, o.Out); err != nil {
			return res, err
		}
		ph.done("The provider accepted request %s", req.GetName())
		resources, _, _ := unstructured.NestedSlice(req.Object, "spec", "resources")
		for _, r := range resources {
			m, _ := r.(map[string]any)
			name := fmt.Sprintf("%v.%v", m["resource"], m["group"])
			res.Resources = append(res.Resources, name)
			claims[name] = exportClaims(ctx, provider, providerNS, name)
		}
	}

	if err := ensureBindingCRD(ctx, o.Consumer); err != nil {
		return res, err
	}
	for _, export := range res.Resources {
		settings := contract.BindingSettings{AcceptedClaims: claims[export], Namespaces: o.Namespaces}
		if err := ensureBinding(ctx, consumer, plan[export], export, o.Namespace, secret, settings); err != nil {
			return res, err
		}
		res.Bindings = append(res.Bindings, plan[export])
	}
	ph.done("Created APIServiceBinding(s) %s", strings.Join(res.Bindings, ", "))

	// While the bindings get Ready, a konnector pod that cannot start ends
	// the wait with its own reason instead of a timeout.
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	if !o.SkipKonnector {
		version, image, err := DeployKonnector(ctx, consumer, o.Namespace, o.KonnectorImage)
		if err != nil {
			return res, err
		}
		ph.done("Deployed the konnector %s in %s", version, o.Namespace)
		go func() {
			if err := watchKonnectorFailures(waitCtx, kube, o.Namespace, image); err != nil {
				stopWaiting(err)
			}
		}()
	}
	for _, name := range res.Bindings {
		if err := waitBindingReady(waitCtx, consumer, name, o.Timeout); err != nil {
			if cause := context.Cause(waitCtx); cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() == nil {
				return res, cause
			}
			return res, err
		}
	}
	ph.done("The CRD(s) are established and the binding(s) Ready")
	return res, nil
}
