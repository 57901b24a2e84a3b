package bind

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
)

// Step 7: an APIServiceBinding per bound resource, recording the claims
// the user accepted, then the wait until each is Ready.

// ensureBindingCRD installs the APIServiceBinding CRD, from the same
// embedded source as the konnector, which installs it too when it starts:
// the bindings are created before the konnector is deployed.
func ensureBindingCRD(ctx context.Context, cfg *rest.Config) error {
	s := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return consumerError(err, "connecting to the consumer cluster")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := crds.Install(ctx, c, crds.Consumer...); err != nil {
		return consumerError(err, "installing the APIServiceBinding CRD")
	}
	return nil
}

// bindingObject is the binding name of export, with its kubeconfig in
// Secret ns/secret, and the settings kubectl bind records on it.
func bindingObject(name, export, ns, secret string, settings contract.BindingSettings) (*unstructured.Unstructured, error) {
	b := &unstructured.Unstructured{}
	b.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
	b.SetKind("APIServiceBinding")
	b.SetName(name)
	if name != export {
		settings.Export = export
	}
	annotations := map[string]string{ResourcesAnnotation: export}
	if err := settings.WriteBinding(annotations); err != nil {
		return nil, err
	}
	b.SetAnnotations(annotations)
	_ = unstructured.SetNestedMap(b.Object, map[string]any{"name": secret, "namespace": ns, "key": "kubeconfig"}, "spec", "kubeconfigSecretRef")
	return b, nil
}

// ensureBinding applies the binding of a resource, recording the claims
// the user accepted with it and the namespaces it is limited to.
func ensureBinding(ctx context.Context, consumer dynamic.Interface, name, export, ns, secret string, settings contract.BindingSettings) error {
	b, err := bindingObject(name, export, ns, secret, settings)
	if err != nil {
		return err
	}
	if _, err := consumer.Resource(Bindings).Apply(ctx, name, b, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		if apierrors.IsNotFound(err) {
			return hinted(err, "the consumer cluster does not serve APIServiceBindings yet", "deploy the konnector (drop --skip-konnector), which installs them")
		}
		return consumerError(err, "creating APIServiceBinding "+name)
	}
	return nil
}

// waitBindingReady waits for the binding's Ready condition, and reports
// the binding's own message when it does not get there.
func waitBindingReady(ctx context.Context, consumer dynamic.Interface, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg := "no status yet; is the konnector running?"
	return watchUntil(ctx, consumer.Resource(Bindings), name, func(u *unstructured.Unstructured) (bool, error) {
		status, message, found := Condition(u, "Ready")
		if status == "True" {
			return true, nil
		}
		if found {
			msg = message
		}
		return false, nil
	}, func() error {
		return hinted(nil, fmt.Sprintf("APIServiceBinding %s is not Ready after %s: %s", name, timeout, msg), "kubectl get apiservicebinding "+name+" -o yaml")
	})
}

// ProviderOf connects to the provider of binding b with the kubeconfig
// its Secret holds (parsed as data, as at bind time), and returns a client
// and the consumer's namespace there.
func ProviderOf(ctx context.Context, kube kubernetes.Interface, b *unstructured.Unstructured, timeout time.Duration) (dynamic.Interface, string, error) {
	ns, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "namespace")
	name, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "name")
	key, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "key")
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, "", consumerError(err, fmt.Sprintf("reading the provider kubeconfig of %s (Secret %s/%s)", b.GetName(), ns, name))
	}
	p, err := kubeconfig.ParseProvider(s.Data[key], kubeconfig.OptionsFor(s.Annotations))
	if err != nil {
		return nil, "", hinted(err, fmt.Sprintf("the provider kubeconfig of %s is not usable", b.GetName()), "bind again")
	}
	cfg := p.Config
	cfg.Timeout = timeout
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	return d, p.Namespace, nil
}

// planBindings names the binding of each resource a bind would bind, and
// refuses, before anything is written, what would take a resource or a
// namespace from another provider's binding: binding again would re-point
// it, abandoning the first provider's copies and heartbeat. Binding again
// from the same provider (the same kubeconfig Secret) reuses its binding.
// A resource can be bound from several providers only by bindings limited
// to namespaces, each to its own (namespaces, from --namespace).
func planBindings(ctx context.Context, consumer dynamic.Interface, resp *kubebindv1alpha1.BindingResponse, ns, secret, host string, namespaces []string) (map[string]string, error) {
	list, err := consumer.Resource(Bindings).List(ctx, metav1.ListOptions{})
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		list = &unstructured.UnstructuredList{}
	} else if err != nil {
		return nil, consumerError(err, "listing APIServiceBindings")
	}
	plan := map[string]string{}
	for _, raw := range resp.Requests {
		req, err := decodeRequest(raw)
		if err != nil {
			return nil, err
		}
		resources, _, _ := unstructured.NestedSlice(req.Object, "spec", "resources")
		for _, r := range resources {
			m, _ := r.(map[string]any)
			export := fmt.Sprintf("%v.%v", m["resource"], m["group"])
			name, err := planBinding(list.Items, export, ns, secret, host, namespaces)
			if err != nil {
				return nil, err
			}
			plan[export] = name
		}
	}
	return plan, nil
}

// planBinding names the binding of one export, or says why it cannot be
// bound.
func planBinding(bindings []unstructured.Unstructured, export, ns, secret, host string, namespaces []string) (string, error) {
	taken := map[string]bool{}
	var others []unstructured.Unstructured
	for _, b := range bindings {
		taken[b.GetName()] = true
		if contract.ExportOf(b.GetName(), b.GetAnnotations()) == export {
			others = append(others, b)
		}
	}
	var reuse string
	for _, b := range others {
		refNS, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "namespace")
		refName, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "name")
		if refNS == ns && refName == secret {
			reuse = b.GetName()
			continue
		}
		other, _, _ := unstructured.NestedString(b.Object, "status", "providerPrettyName")
		if other == "" {
			other = "another provider"
		}
		// What it asks for, and what it still serves (a namespace it gave
		// up keeps its objects there until they are gone).
		theirs := contract.SplitNamespaces(b.GetAnnotations()[binderyv1alpha1.BindingNamespacesAnnotation] + "," +
			b.GetAnnotations()[binderyv1alpha1.ServingNamespacesAnnotation])
		where := fmt.Sprintf("APIServiceBinding %s, kubeconfig in Secret %s/%s", b.GetName(), refNS, refName)
		switch {
		case len(namespaces) == 0:
			return "", hinted(nil,
				fmt.Sprintf("%s is already bound from %s (%s); binding it from %s for every namespace would re-point it and abandon that provider's objects; nothing was changed",
					export, other, where, host),
				"keep the existing binding, or unbind it first (kubectl bind unbind "+b.GetName()+") and bind again; "+
					"or bind it from here for other namespaces only, with --namespace")
		case len(theirs) == 0:
			return "", hinted(nil,
				fmt.Sprintf("%s is already bound from %s for every namespace (%s); nothing was changed", export, other, where),
				"one resource can come from several providers only by bindings limited to namespaces: unbind it (kubectl bind unbind "+b.GetName()+
					") and bind both with --namespace")
		}
		if both := intersect(theirs, namespaces); len(both) > 0 {
			return "", hinted(nil,
				fmt.Sprintf("namespace(s) %s already get %s from %s (%s); a namespace gets a resource from one provider only; nothing was changed",
					strings.Join(both, ", "), export, other, where),
				"bind this provider for other namespaces, or move the namespace: delete its objects of "+export+", unbind it there, then bind again")
		}
	}
	switch {
	case reuse != "":
		return reuse, nil
	case !taken[export]:
		return export, nil
	}
	name := export + "-" + strings.Join(namespaces, "-")
	if len(name) > 253 || taken[name] {
		sum := sha256.Sum256([]byte(strings.Join(namespaces, ",") + "@" + secret))
		name = fmt.Sprintf("%.200s-%s", export, hex.EncodeToString(sum[:5]))
	}
	return name, nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}
