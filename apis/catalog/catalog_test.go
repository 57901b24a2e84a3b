package catalog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

func crd(group, plural, kind string, labels, annotations map[string]string) apiextensionsv1.CustomResourceDefinition {
	return apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group, Labels: labels, Annotations: annotations},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: kind},
		},
	}
}

func template(name string, resources ...binderyv1alpha1.ExportedResource) binderyv1alpha1.APIServiceExportTemplate {
	return binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       binderyv1alpha1.APIServiceExportTemplateSpec{DisplayName: name, Resources: resources},
	}
}

func TestBuild(t *testing.T) {
	exported := map[string]string{ExportedLabel: "true"}
	deleting := template("old", binderyv1alpha1.ExportedResource{Group: "old.example.com", Resource: "olds"})
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}

	services := Build(
		[]binderyv1alpha1.APIServiceExportTemplate{
			template("postgres", binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "databases"}),
			deleting,
		},
		[]apiextensionsv1.CustomResourceDefinition{
			crd("db.example.com", "databases", "Database", exported, nil),                                            // already in a template
			crd("cache.example.com", "caches", "Cache", exported, map[string]string{DescriptionAnnotation: "Redis"}), // offered alone
			crd("mq.example.com", "queues", "Queue", map[string]string{ExportedLabel: "false"}, nil),                 // not exported
			crd("plain.example.com", "plains", "Plain", nil, nil),                                                    // not exported
		},
	)
	require.Len(t, services, 2)

	assert.Equal(t, "postgres", services[0].Name)
	assert.Equal(t, SourceTemplate, services[0].Source)
	assert.Equal(t, binderyv1alpha1.SchemaUpdateNonBreaking, services[0].Spec.SchemaUpdatePolicy, "defaults filled in")

	assert.Equal(t, "caches.cache.example.com", services[1].Name)
	assert.Equal(t, SourceExportedCRD, services[1].Source)
	assert.Equal(t, "Cache", services[1].Spec.DisplayName)
	assert.Equal(t, "Redis", services[1].Spec.Description)
	assert.Equal(t, binderyv1alpha1.IsolationPrefixed, services[1].Spec.ClusterScopedIsolation)
	assert.Equal(t, binderyv1alpha1.BindingScopeCluster, services[1].Spec.Scope.Type)

	assert.Len(t, ForResources(services, binderyv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}), 1)
	assert.Empty(t, ForResources(services, binderyv1alpha1.GroupResource{Group: "old.example.com", Resource: "olds"}), "a template being deleted takes no new bindings")
	assert.Empty(t, ForResources(services, binderyv1alpha1.GroupResource{Group: "mq.example.com", Resource: "queues"}))
	assert.Empty(t, ForResources(services,
		binderyv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"},
		binderyv1alpha1.GroupResource{Group: "cache.example.com", Resource: "caches"}), "no single service offers both")
	assert.Equal(t, "databases.db.example.com", ResourceSummary(services[0].Spec))
}

func TestSnapshotScope(t *testing.T) {
	tests := []struct {
		isolation binderyv1alpha1.Isolation
		crdScope  apiextensionsv1.ResourceScope
		want      apiextensionsv1.ResourceScope
		wantErr   string
	}{
		{binderyv1alpha1.IsolationPrefixed, apiextensionsv1.NamespaceScoped, apiextensionsv1.NamespaceScoped, ""},
		{binderyv1alpha1.IsolationPrefixed, apiextensionsv1.ClusterScoped, apiextensionsv1.ClusterScoped, ""},
		{binderyv1alpha1.IsolationNone, apiextensionsv1.ClusterScoped, apiextensionsv1.ClusterScoped, ""},
		{binderyv1alpha1.IsolationNamespaced, apiextensionsv1.NamespaceScoped, apiextensionsv1.ClusterScoped, ""},
		{binderyv1alpha1.IsolationNamespaced, apiextensionsv1.ClusterScoped, "", "the CRD must be namespaced on the provider"},
	}
	for _, tt := range tests {
		t.Run(string(tt.isolation)+"/"+string(tt.crdScope), func(t *testing.T) {
			c := crd("db.example.com", "databases", "Database", nil, nil)
			c.Spec.Scope = tt.crdScope
			c.Spec.Versions = []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}}}
			svc := FromTemplate(&binderyv1alpha1.APIServiceExportTemplate{Spec: binderyv1alpha1.APIServiceExportTemplateSpec{ClusterScopedIsolation: tt.isolation}})
			got, err := svc.Snapshot(&c, nil)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Scope)
		})
	}
}

// TestExportSettingsBound: each resource of a service carries its own
// bound on objects, if it has one.
func TestExportSettingsBound(t *testing.T) {
	s := Build([]binderyv1alpha1.APIServiceExportTemplate{template("shop",
		binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "databases", MaxObjectsPerNamespace: ptr.To[int32](5)},
		binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "backups"},
	)}, nil)[0]
	assert.Equal(t, ptr.To[int32](5), s.ExportSettings("db.example.com", "databases").MaxObjects)
	assert.Nil(t, s.ExportSettings("db.example.com", "backups").MaxObjects, "the backend's bound")
}
