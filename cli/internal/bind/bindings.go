package bind

import (
	"context"
	"fmt"
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

// ensureBinding applies the binding of a resource, recording the claims
// the user accepted with it.
func ensureBinding(ctx context.Context, consumer dynamic.Interface, name, ns, secret string, accepted []binderyv1alpha1.PermissionClaim) error {
	b := &unstructured.Unstructured{}
	b.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
	b.SetKind("APIServiceBinding")
	b.SetName(name)
	annotations := map[string]string{ResourcesAnnotation: name}
	if err := (contract.BindingSettings{AcceptedClaims: accepted}).WriteBinding(annotations); err != nil {
		return err
	}
	b.SetAnnotations(annotations)
	_ = unstructured.SetNestedMap(b.Object, map[string]any{"name": secret, "namespace": ns, "key": "kubeconfig"}, "spec", "kubeconfigSecretRef")
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
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Ready" {
				if m["status"] == "True" {
					return true, nil
				}
				msg = fmt.Sprint(m["message"])
			}
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

// checkNotBoundElsewhere refuses, before anything is written, to bind a
// resource that a binding already binds from another provider: applying
// the binding again would re-point it, abandoning the first provider's
// copies and heartbeat. Binding again from the same provider (the same
// kubeconfig Secret) is fine.
func checkNotBoundElsewhere(ctx context.Context, consumer dynamic.Interface, resp *kubebindv1alpha1.BindingResponse, ns, secret, host string) error {
	for _, raw := range resp.Requests {
		req, err := decodeRequest(raw)
		if err != nil {
			return err
		}
		resources, _, _ := unstructured.NestedSlice(req.Object, "spec", "resources")
		for _, r := range resources {
			m, _ := r.(map[string]any)
			name := fmt.Sprintf("%v.%v", m["resource"], m["group"])
			b, err := consumer.Resource(Bindings).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				continue
			} else if err != nil {
				return consumerError(err, "reading APIServiceBinding "+name)
			}
			refNS, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "namespace")
			refName, _, _ := unstructured.NestedString(b.Object, "spec", "kubeconfigSecretRef", "name")
			if refNS == ns && refName == secret {
				continue
			}
			other, _, _ := unstructured.NestedString(b.Object, "status", "providerPrettyName")
			if other == "" {
				other = "another provider"
			}
			return hinted(nil,
				fmt.Sprintf("%s is already bound from %s (APIServiceBinding %s, kubeconfig in Secret %s/%s); binding it from %s would re-point it and abandon that provider's objects; nothing was changed",
					name, other, name, refNS, refName, host),
				"keep the existing binding, or unbind it first (kubectl bind unbind "+name+") and bind again")
		}
	}
	return nil
}
