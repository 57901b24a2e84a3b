package binding

import (
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

// TestEngineKey checks what restarts a binding's sync engine: what it
// syncs and how, not the provider's bound on objects.
func TestEngineKey(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "db.example.com", Version: "v1", Resource: "databases"}
	claim := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"creds"}}}
	base := contract.ExportSettings{Namespaces: []string{"default"}}
	key := engineKey("conn-1", gvr, true, base, kubebindv1alpha1.IsolationPrefixed)
	for _, tc := range []struct {
		name    string
		changed string
		restart bool
	}{
		{"the same", engineKey("conn-1", gvr, true, base, kubebindv1alpha1.IsolationPrefixed), false},
		{"a bound on objects set", engineKey("conn-1", gvr, true, contract.ExportSettings{Namespaces: []string{"default"}, MaxObjects: ptr.To[int32](5)}, kubebindv1alpha1.IsolationPrefixed), false},
		{"no bound on objects", engineKey("conn-1", gvr, true, contract.ExportSettings{Namespaces: []string{"default"}, MaxObjects: ptr.To[int32](0)}, kubebindv1alpha1.IsolationPrefixed), false},
		{"another provider connection", engineKey("conn-2", gvr, true, base, kubebindv1alpha1.IsolationPrefixed), true},
		{"another served version", engineKey("conn-1", schema.GroupVersionResource{Group: gvr.Group, Version: "v2", Resource: gvr.Resource}, true, base, kubebindv1alpha1.IsolationPrefixed), true},
		{"the status subresource gone", engineKey("conn-1", gvr, false, base, kubebindv1alpha1.IsolationPrefixed), true},
		{"a claim accepted", engineKey("conn-1", gvr, true, contract.ExportSettings{Namespaces: []string{"default"}, Claims: []binderyv1alpha1.PermissionClaim{claim}}, kubebindv1alpha1.IsolationPrefixed), true},
		{"another namespace served", engineKey("conn-1", gvr, true, contract.ExportSettings{Namespaces: []string{"default", "team-a"}}, kubebindv1alpha1.IsolationPrefixed), true},
		{"another isolation", engineKey("conn-1", gvr, true, base, kubebindv1alpha1.IsolationNamespaced), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.restart, tc.changed != key)
		})
	}
}
