package servicenamespace

import (
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// TestReferencedBy checks which service namespaces an exported object's
// event reconciles: its own, and those its claims' references name, not
// every namespace of its consumer.
func TestReferencedBy(t *testing.T) {
	const clusterNS, serviceNS = "bindery-alice", "bindery-alice-default"
	byRef := func(namePath, namespacePath string, heldBy *binderyv1alpha1.GroupResource) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{Resource: heldBy, NamePath: namePath, NamespacePath: namespacePath}}}
	}
	own := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: clusterNS, Name: "default"}}
	in := func(ns string) reconcile.Request {
		return reconcile.Request{NamespacedName: client.ObjectKey{Namespace: clusterNS, Name: ns}}
	}
	for _, tc := range []struct {
		name      string
		claims    []binderyv1alpha1.PermissionClaim
		namespace string // where the object is
		want      []reconcile.Request
	}{
		{name: "a reference within the namespace", claims: []binderyv1alpha1.PermissionClaim{byRef("spec.sharedRef.name", "", nil)},
			namespace: serviceNS, want: []reconcile.Request{own}},
		{name: "a reference to another namespace", claims: []binderyv1alpha1.PermissionClaim{byRef("spec.sharedRef.name", "spec.sharedRef.namespace", nil)},
			namespace: serviceNS, want: []reconcile.Request{own, in("shared")}},
		{name: "two references to other namespaces", claims: []binderyv1alpha1.PermissionClaim{
			byRef("spec.sharedRef.name", "spec.sharedRef.namespace", nil), byRef("spec.otherRef.name", "spec.otherRef.namespace", nil)},
			namespace: serviceNS, want: []reconcile.Request{own, in("shared"), in("other")}},
		{name: "a reference another resource's objects hold", claims: []binderyv1alpha1.PermissionClaim{
			byRef("spec.sharedRef.name", "spec.sharedRef.namespace", &binderyv1alpha1.GroupResource{Group: "db.example.com", Resource: "backups"})},
			namespace: serviceNS, want: []reconcile.Request{own}},
		{name: "a path the object leaves empty", claims: []binderyv1alpha1.PermissionClaim{byRef("spec.sharedRef.name", "spec.missing.namespace", nil)},
			namespace: serviceNS, want: []reconcile.Request{own}},
		{name: "an object outside service namespaces", claims: []binderyv1alpha1.PermissionClaim{byRef("spec.sharedRef.name", "spec.sharedRef.namespace", nil)},
			namespace: "elsewhere", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			export := &kubebindv1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: "databases.db.example.com", Annotations: map[string]string{}}}
			export.Spec.Group, export.Spec.Names.Kind, export.Spec.Names.Plural = "db.example.com", "Database", "databases"
			require.NoError(t, contract.ExportSettings{Claims: tc.claims}.WriteExport(export.Annotations))
			c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: serviceNS,
					Labels:      map[string]string{consumer.RoleLabel: consumer.RoleService, consumer.ClusterNamespaceLabel: clusterNS},
					Annotations: map[string]string{consumer.ConsumerNamespaceAnnotation: "default"}}},
				&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}},
				export,
			).Build()
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "db.example.com/v1", "kind": "Database",
				"metadata": map[string]any{"namespace": tc.namespace, "name": "pointing"},
				"spec": map[string]any{
					"sharedRef": map[string]any{"name": "shared-cm", "namespace": "shared"},
					"otherRef":  map[string]any{"name": "other-cm", "namespace": "other"},
				},
			}}
			r := &Reconciler{Client: c}
			assert.Equal(t, tc.want, r.referencedBy(t.Context(), obj))
		})
	}
}
