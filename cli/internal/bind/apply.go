package bind

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/konnector/deploy"
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

	if o.DryRun {
		return nil, printDryRun(ctx, consumer, resp, o, host, providerNS)
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
	for _, name := range res.Resources {
		if err := ensureBinding(ctx, consumer, name, o.Namespace, secret, claims[name]); err != nil {
			return res, err
		}
		res.Bindings = append(res.Bindings, name)
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

// printDryRun prints what a bind would create: the Secret (without the
// credentials), the requests on the provider, the bindings and the
// konnector's objects.
func printDryRun(ctx context.Context, consumer dynamic.Interface, resp *kubebindv1alpha1.BindingResponse, o ApplyOptions, host, providerNS string) error {
	var objs []*unstructured.Unstructured
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"namespace": o.Namespace, "name": SecretName(host, providerNS)},
		"data":     map[string]any{"kubeconfig": "(the provider's kubeconfig, not shown)"},
	}}
	objs = append(objs, secret)
	var bound []deploy.Binding
	for _, raw := range resp.Requests {
		req, err := decodeRequest(raw)
		if err != nil {
			return err
		}
		req.SetNamespace(providerNS)
		objs = append(objs, req)
		resources, _, _ := unstructured.NestedSlice(req.Object, "spec", "resources")
		for _, r := range resources {
			m, _ := r.(map[string]any)
			b := &unstructured.Unstructured{}
			b.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
			b.SetKind("APIServiceBinding")
			b.SetName(fmt.Sprintf("%v.%v", m["resource"], m["group"]))
			_ = unstructured.SetNestedMap(b.Object, map[string]any{"name": secret.GetName(), "namespace": o.Namespace, "key": "kubeconfig"}, "spec", "kubeconfigSecretRef")
			objs = append(objs, b)
			bound = append(bound, deploy.Binding{Name: b.GetName(), Group: fmt.Sprint(m["group"]), Resource: fmt.Sprint(m["resource"])})
		}
	}
	if !o.SkipKonnector {
		konnector, err := KonnectorManifests(ctx, consumer, o.Namespace, o.KonnectorImage, bound...)
		if err != nil {
			return err
		}
		objs = append(objs, konnector...)
	}
	for _, obj := range objs {
		raw, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		where := "consumer"
		if obj.GetKind() == "APIServiceExportRequest" {
			where = "provider"
		}
		_, _ = fmt.Fprintf(o.Out, "---\n# in the %s cluster\n%s", where, raw)
	}
	return nil
}

// providerClient builds a client from the provider kubeconfig; its
// context's namespace is the consumer's namespace there. The kubeconfig is
// data from the provider: nothing in it runs or is read here
// (kubeconfig.ParseProvider).
func providerClient(raw []byte, accepted kubeconfig.ProviderOptions) (dynamic.Interface, string, string, error) {
	p, err := kubeconfig.ParseProvider(raw, accepted)
	if err != nil {
		hint := "tell the provider's operators; nothing was created"
		if strings.Contains(err.Error(), "insecure-skip-tls-verify") {
			hint = "pass --provider-insecure-skip-tls-verify if you accept a provider whose certificate is not checked"
		}
		return nil, "", "", hinted(err, "refusing the provider's kubeconfig", hint)
	}
	ns, cfg := p.Namespace, p.Config
	cfg.UserAgent = "kubectl-bind"
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, "", "", err
	}
	return d, ns, cfg.Host, nil
}

// SecretName is the name of the Secret holding a provider's kubeconfig:
// the same provider and consumer namespace always get the same Secret.
func SecretName(host, providerNamespace string) string {
	sum := sha256.Sum256([]byte(host + "\n" + providerNamespace))
	return "kubeconfig-" + hex.EncodeToString(sum[:5])
}

// ensureNamespace creates namespace ns in the consumer cluster unless it
// exists.
func ensureNamespace(ctx context.Context, kube kubernetes.Interface, ns string) error {
	if _, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return consumerError(err, "creating namespace "+ns)
		}
	} else if err != nil {
		return consumerError(err, "reading namespace "+ns)
	}
	return nil
}

func ensureSecret(ctx context.Context, kube kubernetes.Interface, ns, host, providerNS string, raw []byte, accepted kubeconfig.ProviderOptions) (string, error) {
	if err := ensureNamespace(ctx, kube, ns); err != nil {
		return "", err
	}
	name := SecretName(host, providerNS)
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": FieldManager}, Annotations: map[string]string{"bindery.dev/provider": host}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"kubeconfig": raw},
	}
	if accepted.AllowInsecureTLS {
		s.Annotations[kubeconfig.InsecureTLSAnnotation] = "true"
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if _, err := kube.CoreV1().Secrets(ns).Patch(ctx, name, "application/apply-patch+yaml", raw, metav1.PatchOptions{FieldManager: FieldManager, Force: ptrTrue()}); err != nil {
		return "", consumerError(err, "storing the provider kubeconfig in Secret "+ns+"/"+name)
	}
	return name, nil
}

func ptrTrue() *bool { b := true; return &b }

func decodeRequest(raw runtime.RawExtension) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw.Raw, &u.Object); err != nil {
		return nil, hinted(err, "the provider returned a request that is not valid", "tell the provider's operators")
	}
	if u.GetName() == "" {
		return nil, hinted(nil, "the provider returned a request without a name", "tell the provider's operators")
	}
	u.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
	u.SetKind("APIServiceExportRequest")
	return u, nil
}

func createRequest(ctx context.Context, provider dynamic.Interface, ns string, req *unstructured.Unstructured) error {
	rc := provider.Resource(ExportRequests).Namespace(ns)
	req.SetNamespace(ns)
	_, err := rc.Create(ctx, req, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Binding again: a failed earlier request is replaced, a
		// succeeded one is kept.
		old, gerr := rc.Get(ctx, req.GetName(), metav1.GetOptions{})
		if gerr == nil {
			if phase, _, _ := unstructured.NestedString(old.Object, "status", "phase"); phase == "Failed" {
				if err := rc.Delete(ctx, req.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return hinted(err, "cannot replace the failed request "+req.GetName(), "delete it on the provider and bind again")
				}
				_, err = rc.Create(ctx, req, metav1.CreateOptions{})
				return providerError(err, "creating request "+req.GetName())
			}
		}
		return nil
	}
	return providerError(err, "creating request "+req.GetName())
}

// waitRequest watches the request until the provider decides.
func waitRequest(ctx context.Context, provider dynamic.Interface, ns, name string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc := provider.Resource(ExportRequests).Namespace(ns)
	last := ""
	return watchUntil(ctx, rc, name, func(u *unstructured.Unstructured) (bool, error) {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		if phase != last && phase != "" && phase != "Succeeded" {
			_, _ = fmt.Fprintf(out, "  request %s: %s\n", name, phase)
		}
		last = phase
		switch phase {
		case "Succeeded":
			return true, nil
		case "Failed":
			msg, _, _ := unstructured.NestedString(u.Object, "status", "terminalMessage")
			return false, hinted(nil, fmt.Sprintf("the provider refused request %s: %s", name, msg), "choose another service, or ask the provider's operators")
		}
		return false, nil
	}, func() error {
		return hinted(nil, fmt.Sprintf("the provider did not handle request %s within %s", name, timeout), "check that the provider's backend is running")
	})
}

// watchUntil gets the named object and then watches it until cond says
// done or fails; onTimeout explains a timeout.
func watchUntil(ctx context.Context, rc dynamic.ResourceInterface, name string, cond func(*unstructured.Unstructured) (bool, error), onTimeout func() error) error {
	for {
		list, err := rc.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			if ctx.Err() != nil {
				return onTimeout()
			}
			return err
		}
		for i := range list.Items {
			if done, err := cond(&list.Items[i]); done || err != nil {
				return err
			}
		}
		w, err := rc.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return onTimeout()
			}
			return err
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				if done, err := cond(u); done || err != nil {
					w.Stop()
					return err
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return onTimeout()
		}
	}
}

// exportClaims returns the permission claims of the export of a resource:
// what the user accepts by binding it.
func exportClaims(ctx context.Context, provider dynamic.Interface, ns, name string) []binderyv1alpha1.PermissionClaim {
	e, err := provider.Resource(Exports).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	settings, err := contract.ReadExport(e.GetAnnotations())
	if err != nil {
		return nil // the konnector reports a broken export
	}
	return settings.Claims
}

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

// DeployKonnector applies the konnector's manifests, granted every bound
// resource of the cluster, and returns the version and image deployed.
func DeployKonnector(ctx context.Context, consumer dynamic.Interface, ns, image string) (string, string, error) {
	ours, err := deploy.ChartVersion()
	if err != nil {
		return "", "", err
	}
	if err := checkNoDowngrade(ctx, consumer, ns, ours); err != nil {
		return "", "", err
	}
	objs, err := KonnectorManifests(ctx, consumer, ns, image)
	if err != nil {
		return "", "", err
	}
	deployed := ""
	for _, o := range objs {
		gvr, err := deploy.Resource(o)
		if err != nil {
			return "", "", err
		}
		var rc dynamic.ResourceInterface = consumer.Resource(gvr)
		if o.GetNamespace() != "" {
			rc = consumer.Resource(gvr).Namespace(o.GetNamespace())
		}
		if _, err := rc.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return "", "", consumerError(err, fmt.Sprintf("applying the konnector's %s %s", o.GetKind(), o.GetName()))
		}
		if o.GetKind() == "Deployment" {
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(containers) > 0 {
				deployed, _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
			}
		}
	}
	return ours, deployed, nil
}

// RefreshKonnectorGrant re-renders the konnector's ClusterRole from the
// bindings left, so that unbinding shrinks what the konnector may touch.
// Only a ClusterRole kubectl bind applied is refreshed: a konnector
// installed otherwise (with Helm) keeps the grant its installer chose.
func RefreshKonnectorGrant(ctx context.Context, consumer dynamic.Interface, ns string) (bool, error) {
	rc := consumer.Resource(rbacv1.SchemeGroupVersion.WithResource("clusterroles"))
	cr, err := rc.Get(ctx, deploy.ClusterRoleName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, consumerError(err, "reading the konnector's ClusterRole")
	}
	if !slices.ContainsFunc(cr.GetManagedFields(), func(m metav1.ManagedFieldsEntry) bool { return m.Manager == FieldManager }) {
		return false, nil
	}
	objs, err := KonnectorManifests(ctx, consumer, ns, "") // the chart's image: only the ClusterRole is applied
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" || o.GetName() != deploy.ClusterRoleName {
			continue
		}
		if _, err := rc.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return false, consumerError(err, "narrowing the konnector's ClusterRole")
		}
		return true, nil
	}
	return false, nil
}

// podFailure says why a container will not start by waiting longer, and
// what to do about it.
type podFailure struct{ why, hint string }

const imageHint = "make the image available to the cluster's nodes (push it to a registry they reach; see docs/install.md) or pass --konnector-image; then bind again"

// podFailures are the waiting reasons of a container that will not start
// by waiting longer.
var podFailures = map[string]podFailure{
	"ErrImagePull":               {"the image cannot be pulled", imageHint},
	"ImagePullBackOff":           {"the image cannot be pulled", imageHint},
	"ErrImageNeverPull":          {"the image is not on the node and its pull policy is Never", imageHint},
	"InvalidImageName":           {"the image name is not valid", "pass a repository:tag to --konnector-image; then bind again"},
	"CreateContainerConfigError": {"the container cannot be configured", "kubectl -n <namespace> describe pod <pod> says what is missing"},
	"CrashLoopBackOff":           {"it keeps crashing", "kubectl -n <namespace> logs <pod> --previous shows why"},
}

// watchKonnectorFailures watches the konnector's pods of image until ctx
// ends, and returns an error, with the pod's own reason, as soon as one
// cannot start: a missing image, a crash loop.
func watchKonnectorFailures(ctx context.Context, kube kubernetes.Interface, ns, image string) error {
	selector := "app.kubernetes.io/name=konnector"
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return kube.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return kube.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted || pod.DeletionTimestamp != nil || len(pod.Spec.Containers) == 0 || pod.Spec.Containers[0].Image != image {
			return false, nil
		}
		for _, c := range pod.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil {
				if f, fatal := podFailures[w.Reason]; fatal {
					hint := strings.NewReplacer("<namespace>", ns, "<pod>", pod.Name).Replace(f.hint)
					return false, hinted(nil, fmt.Sprintf("the konnector (%s) cannot start: %s: pod %s/%s is %s: %s", image, f.why, ns, pod.Name, w.Reason, w.Message), hint)
				}
			}
		}
		return false, nil
	})
	var bindErr *Error
	if errors.As(err, &bindErr) {
		return err
	}
	return nil // the bind ended, or the watch did: the binding wait decides
}

// checkNoDowngrade refuses to replace a newer konnector with this
// kubectl-bind's older one; the same or an older one is upgraded.
func checkNoDowngrade(ctx context.Context, consumer dynamic.Interface, ns, ours string) error {
	d, err := consumer.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(ns).Get(ctx, "konnector", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return consumerError(err, "reading the konnector's Deployment")
	}
	label := d.GetLabels()["app.kubernetes.io/version"]
	running, err1 := version.ParseSemantic(label)
	mine, err2 := version.ParseSemantic(ours)
	if err1 != nil || err2 != nil {
		return nil // unversioned builds are replaced
	}
	if running.GreaterThan(mine) {
		return hinted(nil, fmt.Sprintf("the konnector in %s is %s, newer than this kubectl-bind's %s", ns, label, ours), "upgrade kubectl-bind, or bind with --skip-konnector to keep the running konnector")
	}
	return nil
}

// KonnectorManifests renders the konnector's chart for the bindings of
// the cluster, plus extra ones about to be created: granted each bound
// resource, and the kinds the bindings' accepted claims copy. Derived from
// the bindings alone, the grant follows them: what no binding claims any
// more is not granted.
func KonnectorManifests(ctx context.Context, consumer dynamic.Interface, ns, image string, extra ...deploy.Binding) ([]*unstructured.Unstructured, error) {
	bound := append([]deploy.Binding(nil), extra...)
	var claimed []string
	list, err := consumer.Resource(Bindings).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, consumerError(err, "listing APIServiceBindings")
	}
	if list != nil {
		for _, b := range list.Items {
			resource, group, ok := strings.Cut(b.GetName(), ".")
			if ok && !slices.ContainsFunc(bound, func(x deploy.Binding) bool { return x.Name == b.GetName() }) {
				bound = append(bound, deploy.Binding{Name: b.GetName(), Group: group, Resource: resource})
			}
			settings, err := contract.ReadBinding(b.GetAnnotations())
			if err != nil {
				return nil, fmt.Errorf("APIServiceBinding %s: %w", b.GetName(), err)
			}
			claimed = append(claimed, settings.ClaimedResources()...)
		}
	}
	sort.Strings(claimed)
	claimed = slices.Compact(claimed)
	sort.Slice(bound, func(i, j int) bool { return bound[i].Name < bound[j].Name })
	return deploy.Render(deploy.Options{Namespace: ns, Image: image, Bindings: bound, ClaimedResources: claimed})
}

func consumerError(err error, what string) error {
	switch {
	case apierrors.IsForbidden(err):
		return hinted(err, what+": not allowed in the consumer cluster", "kubectl bind needs to create Secrets, APIServiceBindings, CRDs and RBAC there; use an admin context")
	case apierrors.IsUnauthorized(err):
		return hinted(err, what+": the consumer cluster does not accept your credentials", "check --kubeconfig and --context")
	case unreachable(err):
		return hinted(err, what+": cannot reach the consumer cluster", "check --kubeconfig and --context, and that the cluster is up")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func providerError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return hinted(err, what+": the provider refused the returned credentials", "run kubectl bind again; if it persists, tell the provider's operators")
	case unreachable(err):
		return hinted(err, what+": cannot reach the provider's cluster", "the provider's API server may be down; try again later")
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unreachable reports whether err is a failure to reach the server at
// all (refused, no route, unknown host, dial timeout), as opposed to an
// answer from it.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return err != nil && (errors.As(err, &op) || errors.As(err, &dns))
}
