package binding

import (
	"context"
	"fmt"
	"slices"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
)

// Namespace-limited bindings. A binding limited to namespaces (kubectl
// bind --namespace) syncs the objects of those namespaces only, so one
// resource can be bound from several providers, each for its own
// namespaces. The konnector records on each such binding the namespaces
// it serves (ServingNamespacesAnnotation): a namespace goes to the
// binding that serves it first, and a binding gives one up only once it
// holds none of its objects.

// neighbours returns the other bindings of the same export as b.
func (r *Reconciler) neighbours(ctx context.Context, b *kubebindv1alpha1.APIServiceBinding) ([]kubebindv1alpha1.APIServiceBinding, error) {
	list := &kubebindv1alpha1.APIServiceBindingList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing bindings: %w", err)
	}
	export := contract.ExportOf(b.Name, b.Annotations)
	var out []kubebindv1alpha1.APIServiceBinding
	for _, o := range list.Items {
		if o.Name != b.Name && contract.ExportOf(o.Name, o.Annotations) == export {
			out = append(out, o)
		}
	}
	return out, nil
}

// servingOf returns the namespaces binding b serves, as recorded.
func servingOf(b *kubebindv1alpha1.APIServiceBinding) []string {
	return contract.SplitNamespaces(b.Annotations[binderyv1alpha1.ServingNamespacesAnnotation])
}

// olderThan reports whether binding a came before binding b, which
// decides who gets a namespace both ask for before either serves it.
func olderThan(a, b *kubebindv1alpha1.APIServiceBinding) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// takenBy returns, per namespace, the other binding of the resource that
// has it: one that serves it, or an older one that asks for it and has
// not been reconciled yet.
func takenBy(b *kubebindv1alpha1.APIServiceBinding, others []kubebindv1alpha1.APIServiceBinding) map[string]string {
	taken := map[string]string{}
	for i := range others {
		o := &others[i]
		// An unbinding binding keeps what it serves until it is gone:
		// it is still deleting its objects there.
		for _, ns := range servingOf(o) {
			taken[ns] = o.Name
		}
		if !o.DeletionTimestamp.IsZero() {
			continue // and takes nothing new
		}
		if _, recorded := o.Annotations[binderyv1alpha1.ServingNamespacesAnnotation]; !recorded && olderThan(o, b) {
			s, _ := contract.ReadBinding(o.Annotations)
			for _, ns := range s.Namespaces {
				taken[ns] = o.Name
			}
		}
	}
	return taken
}

// ensureNamespaces decides which namespaces a namespace-limited binding
// serves, records them, and reports in NamespacesBound what it could not
// do as asked: a namespace another binding of the resource serves is not
// taken, and a namespace the binding gives up keeps being served while it
// holds objects the binding synced.
func (r *Reconciler) ensureNamespaces(ctx context.Context, st *state) error {
	settings, err := bindingSettings(st)
	if err != nil {
		return err
	}
	b := st.binding
	if len(settings.Namespaces) == 0 {
		st.limited, st.serving = false, nil
		conditions.MarkTrue(b, ConditionNamespacesBound)
		// Serving every namespace now: forget what it served while limited.
		return r.annotateAndWake(ctx, b, binderyv1alpha1.ServingNamespacesAnnotation, nil)
	}
	others, err := r.neighbours(ctx, b)
	if err != nil {
		return err
	}
	taken := takenBy(b, others)
	before := servingOf(b)
	var serving, conflicts, held []string
	for _, ns := range settings.Namespaces {
		if other, ok := taken[ns]; ok && !slices.Contains(before, ns) {
			conflicts = append(conflicts, fmt.Sprintf("%s (served by binding %s)", ns, other))
			continue
		}
		serving = append(serving, ns)
	}
	for _, ns := range before {
		if slices.Contains(settings.Namespaces, ns) {
			continue
		}
		n, err := r.syncedObjectsIn(ctx, st, ns)
		if err != nil {
			return err
		}
		if n > 0 {
			serving = append(serving, ns)
			held = append(held, fmt.Sprintf("%s (%d object(s))", ns, n))
		}
	}
	if err := r.annotateAndWake(ctx, b, binderyv1alpha1.ServingNamespacesAnnotation, ptr.To(contract.JoinNamespaces(serving))); err != nil {
		return err
	}
	st.limited, st.serving = true, serving

	switch {
	case len(conflicts) > 0:
		conditions.MarkFalse(b, ConditionNamespacesBound, ReasonNamespaceConflict, conditionsapi.ConditionSeverityError,
			"namespace(s) %s are bound by another binding of %s; this binding does not sync them. A namespace is synced by one binding only: "+
				"unbind it there first, or bind this provider for other namespaces", strings.Join(conflicts, ", "), st.crd.Name)
	case len(held) > 0:
		conditions.MarkFalse(b, ConditionNamespacesBound, ReasonNamespaceInUse, conditionsapi.ConditionSeverityWarning,
			"this binding no longer asks for namespace(s) %s, which still hold objects it synced; they keep syncing with this provider "+
				"until they are deleted, and then the namespace is given up", strings.Join(held, ", "))
	default:
		conditions.MarkTrue(b, ConditionNamespacesBound)
	}
	return nil
}

// syncedObjectsIn counts the objects of the binding's resource in
// consumer namespace ns that a sync engine holds with its finalizer.
func (r *Reconciler) syncedObjectsIn(ctx context.Context, st *state, ns string) (int, error) {
	list, err := r.Consumer.Resource(storageGVR(st.crd)).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("listing %s in namespace %s: %w", st.crd.Name, ns, err)
	}
	n := 0
	for _, o := range list.Items {
		if slices.Contains(o.GetFinalizers(), objectsync.Finalizer) {
			n++
		}
	}
	return n, nil
}

// annotateAndWake sets annotation key of binding b to value (removes it
// when value is nil), when that changes it, and then wakes the other
// bindings of its resource, which may be waiting for what b recorded: a
// namespace b gave up, or a schema all of them now offer. An empty value
// is kept: a limited binding that serves no namespace has recorded so.
func (r *Reconciler) annotateAndWake(ctx context.Context, b *kubebindv1alpha1.APIServiceBinding, key string, value *string) error {
	cur, ok := b.Annotations[key]
	if (value == nil && !ok) || (value != nil && ok && cur == *value) {
		return nil
	}
	patch := client.MergeFrom(b.DeepCopy())
	if value == nil {
		delete(b.Annotations, key)
	} else {
		if b.Annotations == nil {
			b.Annotations = map[string]string{}
		}
		b.Annotations[key] = *value
	}
	if err := r.Client.Patch(ctx, b, patch); err != nil {
		return fmt.Errorf("recording %s on the binding: %w", key, err)
	}
	others, err := r.neighbours(ctx, b)
	if err != nil {
		return err
	}
	for _, o := range others {
		r.wakeUp(o.Name)
	}
	return nil
}

// engineNamespaces are the namespaces the binding's engine syncs: those
// it serves, where the provider's export covers them. ok is false when a
// limited binding has none to sync.
func engineNamespaces(st *state, export contract.ExportSettings) (namespaces []string, ok bool) {
	if !st.limited {
		return export.Namespaces, true
	}
	for _, ns := range st.serving {
		if export.Covers(ns) {
			namespaces = append(namespaces, ns)
		}
	}
	return namespaces, len(namespaces) > 0
}

// bindingNeighbours is what a sync engine knows of the other bindings of
// its resource, read from the binding cache when asked.
type bindingNeighbours struct {
	r    *Reconciler
	self *kubebindv1alpha1.APIServiceBinding
}

var _ objectsync.Neighbours = bindingNeighbours{}

func (n bindingNeighbours) ServedBy(ns string) (string, bool) {
	others, err := n.r.neighbours(context.Background(), n.self)
	if err != nil {
		return "", false
	}
	for i := range others {
		if slices.Contains(servingOf(&others[i]), ns) {
			return others[i].Name, true
		}
	}
	return "", false
}

// ReportsUncovered: of the bindings of a resource, the first by name
// warns about objects in namespaces none of them serves.
func (n bindingNeighbours) ReportsUncovered() bool {
	others, err := n.r.neighbours(context.Background(), n.self)
	if err != nil {
		return true
	}
	for _, o := range others {
		if o.Name < n.self.Name {
			return false
		}
	}
	return true
}
