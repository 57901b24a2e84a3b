package objectsync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

// ClaimLabel, on a copied Secret or ConfigMap, names the binding whose
// permission claim made it, so that unbinding can find it.
const ClaimLabel = binderyv1alpha1.ClaimedByLabel

// claimSync copies the Secrets or ConfigMaps of one permission claim
// between each bound consumer namespace and its provider namespace: from
// the provider for ProviderToConsumer (e.g. Crossplane connection
// Secrets), to it for ConsumerToProvider.
//
// Its requests name the claimed object by its consumer namespace.
type claimSync struct {
	e     *Engine
	q     queue
	index int
	claim binderyv1alpha1.PermissionClaim
	gvr   schema.GroupVersionResource
	sel   labels.Selector // for labelSelector claims

	// What the claim reads per consumer namespace, on the source side and
	// on the target side (copies only).
	mu             sync.Mutex
	source, target map[string]*claimStore
}

// claimStore is what a claim reads of one side of a namespace pair: the
// informer of the namespace's objects of the kind or, where the provider
// grants a claim's objects by name, one informer per name. The names
// change when a claim selects by label or by reference: the backend lists
// what it selects on the APIServiceNamespace
// (contract.SelectedNamesAnnotation).
type claimStore struct {
	mu sync.Mutex
	// byName holds the informers, by name; "" is the whole kind's.
	byName map[string]claimInformer
	// start starts the informer of one name, or of the whole kind.
	start func(name string) claimInformer
}

type claimInformer struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc
}

// allNames stands for the whole kind in a claimStore.
var allNames = []string{""}

func (s *claimStore) HasSynced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, i := range s.byName {
		if !i.informer.HasSynced() {
			return false
		}
	}
	return true
}

// get returns the object of key ("namespace/name"), if there is one.
func (s *claimStore) get(key string) *unstructured.Unstructured {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, name, _ := strings.Cut(key, "/")
	for _, n := range []string{name, ""} {
		if i, ok := s.byName[n]; ok {
			if item, ok, _ := i.informer.GetIndexer().GetByKey(key); ok {
				return item.(*unstructured.Unstructured)
			}
		}
	}
	return nil
}

// watch makes the store watch exactly names (allNames: the whole kind),
// and returns the names of what it no longer watches: the objects its
// stopped informers held, and the names themselves.
func (s *claimStore) watch(names []string) (dropped []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName == nil {
		s.byName = map[string]claimInformer{}
	}
	for name, i := range s.byName {
		if slices.Contains(names, name) {
			continue
		}
		for _, obj := range i.informer.GetStore().List() {
			dropped = append(dropped, obj.(*unstructured.Unstructured).GetName())
		}
		if name != "" {
			dropped = append(dropped, name)
		}
		i.stop()
		delete(s.byName, name)
	}
	for _, name := range names {
		if _, ok := s.byName[name]; !ok {
			s.byName[name] = s.start(name)
		}
	}
	return dropped
}

func newClaimSync(e *Engine, i int, c binderyv1alpha1.PermissionClaim, q queue) (*claimSync, error) {
	cs := &claimSync{e: e, q: q, index: i, claim: c, gvr: schema.GroupVersionResource{Group: c.Group, Version: "v1", Resource: c.Resource}}
	cs.source = map[string]*claimStore{}
	cs.target = map[string]*claimStore{}
	if c.Selector.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(c.Selector.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("permission claim %d: %w", i, err)
		}
		cs.sel = sel
	}
	return cs, nil
}

func (c *claimSync) toConsumer() bool {
	return c.claim.Direction != binderyv1alpha1.ClaimConsumerToProvider
}

// sides returns the source and target clients and namespaces.
func (c *claimSync) sides(cns, pns string) (src dynamic.Interface, srcNS string, dst dynamic.Interface, dstNS string) {
	if c.toConsumer() {
		return c.e.o.Provider, pns, c.e.o.Consumer, cns
	}
	return c.e.o.Consumer, cns, c.e.o.Provider, pns
}

// refIndex names the consumer informer's index of the objects a reference
// claim points to.
func (c *claimSync) refIndex() string { return fmt.Sprintf("claim-ref-%d", c.index) }

// references returns the "namespace/name" keys obj refers to under a
// reference claim.
func (c *claimSync) references(obj any) ([]string, error) {
	ref := c.claim.Selector.Reference
	if ref == nil || !contract.HeldBy(*ref, c.e.o.GVR.Group, c.e.o.GVR.Resource) {
		return nil, nil
	}
	u, ok := decoded(obj)
	if !ok {
		return nil, nil
	}
	ns, name := contract.Referenced(u.Object, *ref)
	if name == "" {
		return nil, nil
	}
	if ns == "" {
		ns = u.GetNamespace()
	}
	return []string{ns + "/" + name}, nil
}

// enqueueReferenced enqueues what a bound object refers to.
func (c *claimSync) enqueueReferenced(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	refs, _ := c.references(obj)
	for _, r := range refs {
		ns, name, _ := strings.Cut(r, "/")
		c.q.Add(claimRequest(c.index, ns, name))
	}
}

// watchNamespace starts the claim's informers for a bound namespace pair,
// and follows what the backend lists on the consumer namespace's
// APIServiceNamespace (annotations) as selected.
func (c *claimSync) watchNamespace(cns, pns string, annotations map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	src, srcNS, dst, dstNS := c.sides(cns, pns)
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if u, ok := obj.(*unstructured.Unstructured); ok {
			c.q.Add(claimRequest(c.index, cns, u.GetName()))
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}
	if c.source[cns] == nil {
		var srcTweak dynamicinformer.TweakListOptionsFunc
		if c.sel != nil {
			srcTweak = func(lo *metav1.ListOptions) { lo.LabelSelector = c.sel.String() }
		}
		copies := func(lo *metav1.ListOptions) { lo.LabelSelector = labels.Set{ClaimLabel: c.e.o.Name}.String() }
		c.source[cns] = c.store(src, srcNS, srcTweak, handler)
		c.target[cns] = c.store(dst, dstNS, copies, handler)
	}
	srcNames, dstNames := c.consumerNames(), c.providerNames(annotations)
	if c.toConsumer() {
		srcNames, dstNames = dstNames, allNames // its copies, by label
	}
	c.follow(cns, c.source[cns], srcNames)
	c.follow(cns, c.target[cns], dstNames)
}

// follow makes a store of namespace cns watch names, and syncs again what
// it no longer watches.
func (c *claimSync) follow(cns string, store *claimStore, names []string) {
	for _, name := range store.watch(names) {
		c.q.Add(claimRequest(c.index, cns, name))
	}
}

// consumerNames are the names a claim to the provider watches in the
// consumer cluster: those it names, else the whole kind (its selector
// narrows the list).
func (c *claimSync) consumerNames() []string {
	if len(c.claim.Selector.Names) > 0 {
		return c.claim.Selector.Names
	}
	return allNames
}

// providerNames are the names the claim watches on the provider: those it
// names or, for a claim by label selector or by reference, those the
// backend granted as selected; else the whole kind.
func (c *claimSync) providerNames(annotations map[string]string) []string {
	if len(c.claim.Selector.Names) > 0 {
		return c.claim.Selector.Names
	}
	if contract.Selects(c.claim) {
		if names, set := contract.SelectedNames(annotations, c.gvr.Resource); set {
			return names
		}
	}
	return allNames
}

// store returns an empty store of one side, whose informers list the
// namespace's objects of the kind, or one name each.
func (c *claimSync) store(d dynamic.Interface, ns string, tweak dynamicinformer.TweakListOptionsFunc, h cache.ResourceEventHandler) *claimStore {
	return &claimStore{start: func(name string) claimInformer {
		ctx, stop := context.WithCancel(c.e.ctx)
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(d, 0, ns, func(lo *metav1.ListOptions) {
			if tweak != nil {
				tweak(lo)
			}
			if name != "" {
				lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			}
		})
		i := f.ForResource(c.gvr).Informer()
		_ = i.SetTransform(withoutManagedFields)
		_, _ = i.AddEventHandler(h)
		c.e.informers.start(ctx, f)
		return claimInformer{informer: i, stop: stop}
	}}
}

func (c *claimSync) informers(cns string) (src, dst *claimStore) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.source[cns], c.target[cns]
}

// claimed reports whether the source object is claimed.
func (c *claimSync) claimed(cns string, src *unstructured.Unstructured) (bool, error) {
	sel := c.claim.Selector
	switch {
	case len(sel.Names) > 0:
		return slices.Contains(sel.Names, src.GetName()), nil
	case c.sel != nil:
		return c.sel.Matches(labels.Set(src.GetLabels())), nil
	case sel.Reference != nil:
		refs, err := c.e.consumerInformer.GetIndexer().ByIndex(c.refIndex(), cns+"/"+src.GetName())
		if err != nil {
			return false, err
		}
		for _, r := range refs {
			if r.(metav1.Object).GetDeletionTimestamp() == nil {
				return true, nil
			}
		}
		return false, nil
	}
	return false, nil
}

// sync makes the target copy of the claimed object match its source, or
// removes the copy when the object is no longer claimed or gone.
func (c *claimSync) sync(ctx context.Context, cns, name string) error {
	pns, ok := c.e.serviceNamespaces.ProviderNamespace(cns)
	if !ok {
		return nil
	}
	si, ti := c.informers(cns)
	if si == nil || !si.HasSynced() || !ti.HasSynced() {
		return fmt.Errorf("waiting for the %s informers of %s", c.gvr.Resource, cns)
	}
	_, srcNS, dst, dstNS := c.sides(cns, pns)
	rd := dst.Resource(c.gvr).Namespace(dstNS)
	copyObj := ti.get(dstNS + "/" + name)
	src := si.get(srcNS + "/" + name)
	want := false
	if src != nil && src.GetDeletionTimestamp() == nil {
		var err error
		if want, err = c.claimed(cns, src); err != nil {
			return err
		}
		if want && src.Object["type"] == string(corev1.SecretTypeServiceAccountToken) {
			// A credential of one cluster's ServiceAccount; the admission
			// policies of both sides refuse it too.
			c.refuse(cns, name, srcNS, "ClaimRefused", "%s %s/%s is a service-account token Secret, which binding %s never copies")
			want = false
		}
	}
	if !want {
		if copyObj == nil {
			return nil
		}
		if err := rd.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(copyObj.GetUID())}}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting the copy of claimed %s %s/%s: %w", c.gvr.Resource, dstNS, name, err)
		}
		return nil
	}

	desired := c.desired(src, dstNS)
	if copyObj != nil && copyObj.GetAnnotations()[AppliedHashAnnotation] == desired.GetAnnotations()[AppliedHashAnnotation] {
		return nil
	}
	unreadable := false
	if copyObj == nil {
		// Never take over an object someone else made.
		existing, err := rd.Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil && existing.GetLabels()[ClaimLabel] != c.e.o.Name:
			c.refuse(cns, name, dstNS, "ClaimConflict", conflictMessage)
			return nil
		case apierrors.IsForbidden(err) && !c.toConsumer():
			// On the provider, a copy a claim selects is readable once
			// the backend has granted it by name; the claim-copies
			// admission policy refuses writing over what is not a copy.
			unreadable = true
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("getting %s %s/%s: %w", c.gvr.Resource, dstNS, name, err)
		}
	}
	if _, err := rd.Apply(ctx, name, desired, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		if unreadable && refusedByPolicy(err) {
			// Someone else's object has the name. (RBAC's 403, until
			// the backend grants the name, is retried quietly.)
			c.refuse(cns, name, dstNS, "ClaimConflict", conflictMessage)
		}
		return fmt.Errorf("copying claimed %s %s/%s: %w", c.gvr.Resource, dstNS, name, err)
	}
	return nil
}

// refusedByPolicy reports whether an admission policy, not RBAC, refused
// a write: the provider's claim-copies policy refuses writing over an
// object that is not a claim copy.
func refusedByPolicy(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy")
}

// desired is the copy of src in namespace ns: its payload, user labels and
// annotations, where it came from, and the hash of all of it
// (AppliedHashAnnotation), so that an unchanged copy is not written again.
func (c *claimSync) desired(src *unstructured.Unstructured, ns string) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{}}
	for _, k := range []string{"data", "binaryData", "stringData", "type", "immutable"} {
		if v, ok := src.Object[k]; ok {
			out.Object[k] = v
		}
	}
	out.SetAPIVersion("v1")
	out.SetKind(kindOf(c.gvr.Resource))
	out.SetNamespace(ns)
	out.SetName(src.GetName())
	stampCopy(out, src, map[string]string{ClaimLabel: c.e.o.Name})
	annotations := out.GetAnnotations()
	annotations[AppliedHashAnnotation] = hashOf(out.Object)
	out.SetAnnotations(annotations)
	return out
}

// conflictMessage says why a claimed object is not copied when an object
// of its name, not made by the binding, is in the way: it is left
// untouched.
const conflictMessage = "%s %s/%s exists and was not made by binding %s; it is left untouched. Rename or remove it"

// refuse reports a claimed object that is not copied, for the reason and
// message (with the kind, namespace ns, name and binding to fill in). The
// bound objects referring to it get a Warning.
func (c *claimSync) refuse(cns, name, ns, reason, message string) {
	c.e.o.Log.Info("A claimed object is not copied", "reason", reason, "resource", c.gvr.Resource, "namespace", ns, "name", name)
	if c.claim.Selector.Reference == nil {
		return
	}
	refs, _ := c.e.consumerInformer.GetIndexer().ByIndex(c.refIndex(), cns+"/"+name)
	for _, r := range refs {
		obj, _ := decoded(r)
		c.e.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "CopyClaimed",
			message, kindOf(c.gvr.Resource), ns, name, c.e.o.Name)
	}
}

func kindOf(resource string) string {
	if resource == "configmaps" {
		return "ConfigMap"
	}
	return "Secret"
}
