package bind

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/deploy"
)

// Step 8: the konnector, rendered from its chart and granted what the
// bindings need; a pod that cannot start is reported at once.

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
// resource, and the kinds the bindings' accepted claims copy (to write
// where claims copy into this cluster, to read where they only copy from
// it). Derived from
// the bindings alone, the grant follows them: what no binding claims any
// more is not granted.
func KonnectorManifests(ctx context.Context, consumer dynamic.Interface, ns, image string, extra ...deploy.Binding) ([]*unstructured.Unstructured, error) {
	bound := append([]deploy.Binding(nil), extra...)
	var claimed, written []string
	list, err := consumer.Resource(Bindings).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, consumerError(err, "listing APIServiceBindings")
	}
	if list != nil {
		for _, b := range list.Items {
			// Two bindings of one resource, limited to different
			// namespaces, need one grant.
			crd := contract.ExportOf(b.GetName(), b.GetAnnotations())
			resource, group, ok := strings.Cut(crd, ".")
			if ok && !slices.ContainsFunc(bound, func(x deploy.Binding) bool { return x.Name == crd }) {
				bound = append(bound, deploy.Binding{Name: crd, Group: group, Resource: resource})
			}
			settings, err := contract.ReadBinding(b.GetAnnotations())
			if err != nil {
				return nil, fmt.Errorf("APIServiceBinding %s: %w", b.GetName(), err)
			}
			claimed = append(claimed, settings.ClaimedResources()...)
			written = append(written, settings.WrittenClaimedResources()...)
		}
	}
	sort.Slice(bound, func(i, j int) bool { return bound[i].Name < bound[j].Name })
	sort.Strings(written)
	written = slices.Compact(written)
	sort.Strings(claimed)
	var readOnly []string
	for _, r := range slices.Compact(claimed) {
		if !slices.Contains(written, r) {
			readOnly = append(readOnly, r)
		}
	}
	return deploy.Render(deploy.Options{Namespace: ns, Image: image, Bindings: bound, ClaimedResources: written, ReadOnlyClaimedResources: readOnly})
}
