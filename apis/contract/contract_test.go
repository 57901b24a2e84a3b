package contract

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

func TestExportSettingsRoundTrip(t *testing.T) {
	for name, s := range map[string]ExportSettings{
		"empty": {},
		"claims of every selector, and namespaces": {
			Claims: []binderyv1alpha1.PermissionClaim{
				{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
					Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.writeConnectionSecretToRef.name"}}},
				{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
					Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
				{Resource: "secrets", Direction: binderyv1alpha1.ClaimConsumerToProvider,
					Selector: binderyv1alpha1.ClaimSelector{Names: []string{"ca", "tls"}}},
			},
			Namespaces: []string{"team-a", "team-b"},
		},
		"namespaces only":     {Namespaces: []string{"shop"}},
		"a bound on objects":  {MaxObjects: ptr.To[int32](50)},
		"no bound on objects": {MaxObjects: ptr.To[int32](0)},
	} {
		t.Run(name, func(t *testing.T) {
			a := map[string]string{"other": "kept"}
			require.NoError(t, s.WriteExport(a))
			got, err := ReadExport(a)
			require.NoError(t, err)
			assert.Equal(t, s, got)
			assert.Equal(t, "kept", a["other"], "other annotations stay")
			assert.Equal(t, s.Key(), got.Key())
		})
	}
}

func TestWriteExportRemovesEmptySettings(t *testing.T) {
	a := map[string]string{}
	require.NoError(t, ExportSettings{Namespaces: []string{"a"}, Claims: []binderyv1alpha1.PermissionClaim{{Resource: "secrets"}}, MaxObjects: ptr.To[int32](5)}.WriteExport(a))
	require.Len(t, a, 3)
	require.NoError(t, ExportSettings{}.WriteExport(a))
	assert.Empty(t, a)
}

// TestBound: a service's own bound on objects wins over the backend's,
// including 0 (none); without one, the backend's applies. A malformed
// bound is refused, not read as none.
func TestBound(t *testing.T) {
	tests := []struct {
		name       string
		annotation *string
		want       int
		wantErr    string
	}{
		{name: "the backend's", want: 1000},
		{name: "the service's", annotation: ptr.To("20"), want: 20},
		{name: "the service's: none", annotation: ptr.To("0"), want: 0},
		{name: "negative", annotation: ptr.To("-1"), wantErr: "not a count of objects"},
		{name: "not a number", annotation: ptr.To("many"), wantErr: "not a count of objects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := map[string]string{}
			if tt.annotation != nil {
				a[binderyv1alpha1.MaxObjectsAnnotation] = *tt.annotation
			}
			s, err := ReadExport(a)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Bound(1000))
		})
	}
}

func TestReadExportRefusesBrokenClaims(t *testing.T) {
	_, err := ReadExport(map[string]string{binderyv1alpha1.PermissionClaimsAnnotation: "{not json"})
	assert.ErrorContains(t, err, "is not a list of permission claims")
	s, err := ReadExport(map[string]string{binderyv1alpha1.ConsumerNamespacesAnnotation: " a, ,b,a"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, s.Namespaces, "blanks and repeats dropped")
}

func TestBindingSettingsRoundTrip(t *testing.T) {
	s := BindingSettings{SchemaUpdatePolicy: binderyv1alpha1.SchemaUpdateNever, Export: "widgets.example.com", Namespaces: []string{"team-a", "team-b"}, AcceptedClaims: []binderyv1alpha1.PermissionClaim{
		{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}},
		{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"cfg"}}},
		{Resource: "secrets", Direction: binderyv1alpha1.ClaimConsumerToProvider, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"ca"}}},
	}}
	a := map[string]string{}
	require.NoError(t, s.WriteBinding(a))
	got, err := ReadBinding(a)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	assert.Equal(t, []string{"configmaps", "secrets"}, got.ClaimedResources())
	assert.Equal(t, []string{"secrets"}, got.WrittenClaimedResources(), "configmaps only go to the provider")

	require.NoError(t, BindingSettings{}.WriteBinding(a))
	assert.Empty(t, a)
	none, err := ReadBinding(a)
	require.NoError(t, err)
	assert.Empty(t, none.ClaimedResources())

	assert.False(t, got.FollowsSchema())
	assert.True(t, none.FollowsSchema(), "NonBreaking by default")

	_, err = ReadBinding(map[string]string{binderyv1alpha1.AcceptedClaimsAnnotation: "[1]"})
	assert.ErrorContains(t, err, "bindery.dev/accepted-claims annotation is not a list of permission claims")
	_, err = ReadBinding(map[string]string{binderyv1alpha1.SchemaUpdatePolicyAnnotation: "Always"})
	assert.ErrorContains(t, err, `is "Always"; it may be NonBreaking or Never`)
	_, err = ReadBinding(map[string]string{binderyv1alpha1.BindingNamespacesAnnotation: "team-a,Team_B"})
	assert.ErrorContains(t, err, `names "Team_B", which is not a namespace name`)
}

func TestNamespaceLists(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want []string
		join string
	}{
		{raw: "", want: nil, join: ""},
		{raw: "b, a,b,,", want: []string{"b", "a"}, join: "a,b"},
		{raw: "team-a", want: []string{"team-a"}, join: "team-a"},
	} {
		got := SplitNamespaces(tc.raw)
		assert.Equal(t, tc.want, got, tc.raw)
		assert.Equal(t, tc.join, JoinNamespaces(got), tc.raw)
	}
}

func TestExportOf(t *testing.T) {
	assert.Equal(t, "widgets.example.com", ExportOf("widgets.example.com", nil))
	assert.Equal(t, "widgets.example.com", ExportOf("widgets.example.com-team-b", map[string]string{binderyv1alpha1.ExportAnnotation: "widgets.example.com"}))
}

func TestSplit(t *testing.T) {
	conn := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}}
	wider := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
		Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{}}}
	cfg := binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"cfg"}}}
	b := BindingSettings{AcceptedClaims: []binderyv1alpha1.PermissionClaim{conn, cfg}}
	for _, tt := range []struct {
		name              string
		offered           []binderyv1alpha1.PermissionClaim
		accepted, pending []binderyv1alpha1.PermissionClaim
	}{
		{"unchanged", []binderyv1alpha1.PermissionClaim{conn, cfg}, []binderyv1alpha1.PermissionClaim{conn, cfg}, nil},
		{"narrowed by the provider", []binderyv1alpha1.PermissionClaim{conn}, []binderyv1alpha1.PermissionClaim{conn}, nil},
		{"widened by the provider", []binderyv1alpha1.PermissionClaim{wider, cfg}, []binderyv1alpha1.PermissionClaim{cfg}, []binderyv1alpha1.PermissionClaim{wider}},
		{"nothing offered", nil, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			accepted, pending := b.Split(tt.offered)
			assert.Equal(t, tt.accepted, accepted)
			assert.Equal(t, tt.pending, pending)
		})
	}
	_, pending := BindingSettings{}.Split([]binderyv1alpha1.PermissionClaim{conn})
	assert.Equal(t, []binderyv1alpha1.PermissionClaim{conn}, pending, "a binding that accepted nothing accepts no claim")
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "secrets referenced by .spec.writeConnectionSecretToRef.name, from the provider to your cluster", Describe(binderyv1alpha1.PermissionClaim{
		Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
		Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.writeConnectionSecretToRef.name"}}}))
	assert.Equal(t, "configmaps selected by app=db, from your cluster to the provider", Describe(binderyv1alpha1.PermissionClaim{
		Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
		Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}))
}

func TestReferenced(t *testing.T) {
	obj := map[string]any{"spec": map[string]any{"ref": map[string]any{"name": "conn", "namespace": "team-b"}, "empty": map[string]any{"name": "x", "namespace": ""}}}
	tests := []struct {
		name         string
		ref          binderyv1alpha1.ClaimReference
		wantNS, want string
	}{
		{name: "a name, the object's own namespace", ref: binderyv1alpha1.ClaimReference{NamePath: "spec.ref.name"}, want: "conn"},
		{name: "a name and a namespace", ref: binderyv1alpha1.ClaimReference{NamePath: "spec.ref.name", NamespacePath: "spec.ref.namespace"}, wantNS: "team-b", want: "conn"},
		{name: "an empty namespace is the object's own", ref: binderyv1alpha1.ClaimReference{NamePath: "spec.empty.name", NamespacePath: "spec.empty.namespace"}, want: "x"},
		{name: "nothing at the path", ref: binderyv1alpha1.ClaimReference{NamePath: "spec.missing.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, name := Referenced(obj, tt.ref)
			assert.Equal(t, tt.wantNS, ns)
			assert.Equal(t, tt.want, name)
		})
	}
	held := binderyv1alpha1.ClaimReference{NamePath: "spec.ref.name", Resource: &binderyv1alpha1.GroupResource{Group: "db.example.com", Resource: "backups"}}
	assert.True(t, HeldBy(held, "db.example.com", "backups"))
	assert.False(t, HeldBy(held, "db.example.com", "databases"))
	assert.True(t, HeldBy(binderyv1alpha1.ClaimReference{NamePath: "spec.ref.name"}, "db.example.com", "databases"), "no resource named: any")
}
