package objectsync

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

// A claimStore follows the names it is given: it starts an informer for
// each new name, stops those of names that went, and says which objects
// and names it no longer watches, so that their copies are synced again.
func TestClaimStoreFollowsNames(t *testing.T) {
	// Each informer holds the object of its name (or, for the whole kind,
	// two objects), as if listed; none runs.
	running := map[string]bool{}
	store := &claimStore{start: func(name string) claimInformer {
		i := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0, cache.Indexers{})
		objects := []string{name}
		if name == "" {
			objects = []string{"a", "z"}
		}
		for _, n := range objects {
			u := &unstructured.Unstructured{}
			u.SetNamespace("svc")
			u.SetName(n)
			require.NoError(t, i.GetStore().Add(u))
		}
		running[name] = true
		return claimInformer{informer: i, stop: func() { running[name] = false }}
	}}
	names := func() []string {
		var out []string
		for n, r := range running {
			if r {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return out
	}

	tests := []struct {
		name        string
		watch       []string
		wantRunning []string
		wantDropped []string
		found       map[string]bool
	}{
		{name: "the whole kind, as without the backend's list", watch: allNames, wantRunning: []string{""},
			found: map[string]bool{"svc/a": true, "svc/z": true, "svc/b": false}},
		{name: "names replace the whole kind: what it held is synced again", watch: []string{"a", "b"}, wantRunning: []string{"a", "b"},
			wantDropped: []string{"a", "z"}, found: map[string]bool{"svc/a": true, "svc/b": true, "svc/z": false}},
		{name: "the same names: nothing changes", watch: []string{"b", "a"}, wantRunning: []string{"a", "b"}},
		{name: "a name goes, another comes", watch: []string{"b", "c"}, wantRunning: []string{"b", "c"},
			wantDropped: []string{"a", "a"}, found: map[string]bool{"svc/a": false, "svc/c": true}},
		{name: "nothing selected", watch: nil, wantDropped: []string{"b", "b", "c", "c"}, found: map[string]bool{"svc/b": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dropped := store.watch(tt.watch)
			slices.Sort(dropped)
			assert.Equal(t, tt.wantDropped, dropped)
			assert.Equal(t, tt.wantRunning, names())
			for key, want := range tt.found {
				assert.Equal(t, want, store.get(key) != nil, key)
			}
		})
	}
}

// TestRefusedByPolicy: only an admission policy's refusal of a copy to
// the provider is a name clash; RBAC's 403, until the backend grants the
// name, is retried.
func TestRefusedByPolicy(t *testing.T) {
	configmaps := schema.GroupResource{Resource: "configmaps"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"the claim-copies policy", apierrors.NewForbidden(configmaps, "db-settings", errors.New(
			"ValidatingAdmissionPolicy 'bindery-konnector-claim-copies' with binding 'bindery-konnector-claim-copies' denied request: "+
				"a konnector may only write the Secrets and ConfigMaps it copied for a permission claim")), true},
		{"RBAC", apierrors.NewForbidden(configmaps, "db-settings", errors.New(
			`User "system:serviceaccount:bindery-c1:konnector" cannot patch resource "configmaps" in API group "" in the namespace "bindery-c1-default"`)), false},
		{"another error naming a policy", apierrors.NewBadRequest("ValidatingAdmissionPolicy"), false},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, refusedByPolicy(tt.err))
		})
	}
}

// TestClaimWatchesNames: what a claim watches on each side. A claim by
// name watches only its names, in the consumer cluster too; a claim that
// selects watches on the provider only what the backend granted it as
// selected (nothing when that is empty), and the whole kind where it has
// no such list (its selector narrows the list instead).
func TestClaimWatchesNames(t *testing.T) {
	byName := binderyv1alpha1.ClaimSelector{Names: []string{"ca", "tls"}}
	byLabel := binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}
	byRef := binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.secretRef.name"}}
	selected := map[string]string{contract.SelectedNamesAnnotation: contract.JoinSelected([]string{
		contract.Selected("secrets", "orders-conn"), contract.Selected("configmaps", "other-kind"),
	})}
	tests := []struct {
		name          string
		selector      binderyv1alpha1.ClaimSelector
		annotations   map[string]string
		consumer, prv []string
	}{
		{name: "by name: its names on both sides", selector: byName, annotations: selected, consumer: []string{"ca", "tls"}, prv: []string{"ca", "tls"}},
		{name: "by label, granted names published: those names on the provider", selector: byLabel, annotations: selected, consumer: allNames, prv: []string{"orders-conn"}},
		{name: "by reference, nothing selected yet: no name", selector: byRef, annotations: map[string]string{contract.SelectedNamesAnnotation: ""}, consumer: allNames, prv: nil},
		{name: "by label, from a backend that publishes nothing: the whole kind", selector: byLabel, consumer: allNames, prv: allNames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &claimSync{
				claim: binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimConsumerToProvider, Selector: tt.selector},
				gvr:   schema.GroupVersionResource{Version: "v1", Resource: "secrets"},
			}
			assert.Equal(t, tt.consumer, c.consumerNames(), "in the consumer cluster")
			assert.Equal(t, tt.prv, c.providerNames(tt.annotations), "on the provider")
		})
	}
}
