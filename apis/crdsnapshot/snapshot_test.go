package crdsnapshot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func databaseCRD() *apiextensionsv1.CustomResourceDefinition {
	schema := func(extra string) *apiextensionsv1.CustomResourceValidation {
		props := map[string]apiextensionsv1.JSONSchemaProps{
			"spec": {Type: "object", Required: []string{"engine"}, Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"engine":  {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"postgres"`)}, {Raw: []byte(`"mysql"`)}}, Description: "the database engine"},
				"storage": {Type: "integer", Minimum: ptr(1.0)},
				"writeConnectionSecretToRef": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"name": {Type: "string"},
				}},
			}},
			"status": {Type: "object", XPreserveUnknownFields: ptr(true)},
		}
		if extra != "" {
			props[extra] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		}
		return &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "databases.db.example.com", ResourceVersion: "7", UID: "u1"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "db.example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "databases", Singular: "database", Kind: "Database", ListKind: "DatabaseList",
				ShortNames: []string{"db"}, Categories: []string{"example"},
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{
					Name: "v1alpha1", Served: true, Storage: false, Deprecated: true, DeprecationWarning: ptr("use v1"),
					Schema: schema(""),
				},
				{
					Name: "v1", Served: true, Storage: true, Schema: schema("notes"),
					Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
					AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
						{Name: "Engine", Type: "string", JSONPath: ".spec.engine"},
					},
				},
				{Name: "v0", Served: false, Storage: false, Schema: schema("")},
			},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	crd := databaseCRD()
	spec, err := FromCRD(crd, nil)
	require.NoError(t, err)
	require.Len(t, spec.Versions, 2, "unserved versions are not offered")

	back, err := ToCRD(crd.Name, spec)
	require.NoError(t, err)

	want := crd.DeepCopy()
	want.ObjectMeta = metav1.ObjectMeta{Name: crd.Name}
	want.Spec.Versions = want.Spec.Versions[:2]
	assert.Equal(t, want.Spec, back.Spec, "CRD → export → CRD must keep the spec of the served versions")
	assert.Equal(t, crd.Name, back.Name)

	again, err := FromCRD(back, nil)
	require.NoError(t, err)
	assert.Equal(t, Hash(spec), Hash(again), "the hash of a round-tripped snapshot is stable")
}

func TestFromCRD(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(*apiextensionsv1.CustomResourceDefinition)
		versions    []string
		wantErr     string
		wantNames   []string
		wantStorage string
	}{
		{name: "all served versions", wantNames: []string{"v1alpha1", "v1"}, wantStorage: "v1"},
		{name: "one chosen version", versions: []string{"v1"}, wantNames: []string{"v1"}, wantStorage: "v1"},
		{name: "storage moves to an included version", versions: []string{"v1alpha1"}, wantNames: []string{"v1alpha1"}, wantStorage: "v1alpha1"},
		{name: "unserved version", versions: []string{"v0"}, wantErr: `does not serve version(s) [v0]`},
		{name: "unknown version", versions: []string{"v9"}, wantErr: `does not serve version(s) [v9] (served: [v1alpha1 v1])`},
		{
			name: "storage is the highest-priority version when the CRD's own is left out",
			mutate: func(c *apiextensionsv1.CustomResourceDefinition) {
				c.Spec.Versions = append(c.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{Name: "v1beta1", Served: true, Schema: c.Spec.Versions[0].Schema})
			},
			versions: []string{"v1alpha1", "v1beta1"}, wantNames: []string{"v1alpha1", "v1beta1"}, wantStorage: "v1beta1",
		},
		{
			name: "webhook conversion offers only the storage version",
			mutate: func(c *apiextensionsv1.CustomResourceDefinition) {
				c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter}
			},
			wantNames: []string{"v1"}, wantStorage: "v1",
		},
		{
			name: "webhook conversion refuses several chosen versions",
			mutate: func(c *apiextensionsv1.CustomResourceDefinition) {
				c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter}
			},
			versions: []string{"v1", "v1alpha1"}, wantErr: "converts versions with a webhook",
		},
		{
			name:    "no schema",
			mutate:  func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[1].Schema = nil },
			wantErr: "version v1 has no schema",
		},
		{
			name: "nothing served",
			mutate: func(c *apiextensionsv1.CustomResourceDefinition) {
				for i := range c.Spec.Versions {
					c.Spec.Versions[i].Served = false
				}
			},
			wantErr: "serves no version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crd := databaseCRD()
			if tt.mutate != nil {
				tt.mutate(crd)
			}
			spec, err := FromCRD(crd, tt.versions)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			storage := 0
			for _, v := range spec.Versions {
				names = append(names, v.Name)
				if v.Storage {
					storage++
					assert.Equal(t, tt.wantStorage, v.Name)
				}
				assert.True(t, v.Served)
			}
			assert.Equal(t, tt.wantNames, names)
			assert.Equal(t, 1, storage, "exactly one storage version")
		})
	}
}

func TestToCRDRefusesAForeignName(t *testing.T) {
	spec, err := FromCRD(databaseCRD(), nil)
	require.NoError(t, err)
	_, err = ToCRD("widgets.example.com", spec)
	require.ErrorContains(t, err, "cannot be installed as CRD widgets.example.com")
}

func TestHashChangesWithTheSchema(t *testing.T) {
	a, err := FromCRD(databaseCRD(), nil)
	require.NoError(t, err)
	crd := databaseCRD()
	crd.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["extra"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	b, err := FromCRD(crd, nil)
	require.NoError(t, err)
	assert.NotEqual(t, Hash(a), Hash(b))
	assert.Equal(t, Hash(a), Hash(a.DeepCopy()))
}

func ptr[T any](v T) *T { return &v }
