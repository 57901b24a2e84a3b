package templatestatus_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/backend/internal/controller/templatestatus"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func crd(group, plural string, scope apiextensionsv1.ResourceScope, established bool, versions ...string) apiextensionsv1.CustomResourceDefinition {
	c := apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: group, Scope: scope, Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural}}}
	c.Name = plural + "." + group
	for _, v := range versions {
		c.Spec.Versions = append(c.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{Name: v, Served: true})
	}
	status := apiextensionsv1.ConditionFalse
	if established {
		status = apiextensionsv1.ConditionTrue
	}
	c.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{{Type: apiextensionsv1.Established, Status: status}}
	return c
}

func TestReady(t *testing.T) {
	crds := []apiextensionsv1.CustomResourceDefinition{
		crd("db.example.com", "databases", apiextensionsv1.NamespaceScoped, true, "v1"),
		crd("db.example.com", "pending", apiextensionsv1.NamespaceScoped, false, "v1"),
		crd("db.example.com", "regions", apiextensionsv1.ClusterScoped, true, "v1"),
	}
	tests := []struct {
		name       string
		resources  []binderyv1alpha1.ExportedResource
		wantStatus metav1.ConditionStatus
		wantReason string
		wantMsg    string
	}{
		{"all established", []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases"}},
			metav1.ConditionTrue, binderyv1alpha1.ReasonAllResourcesEstablished, "every resource is established"},
		{"a missing CRD", []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "ghosts"}},
			metav1.ConditionFalse, binderyv1alpha1.ReasonResourcesMissing, "CRD ghosts.db.example.com does not exist"},
		{"a CRD not established", []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "pending"}},
			metav1.ConditionFalse, binderyv1alpha1.ReasonResourcesNotEstablished, "CRD pending.db.example.com is not established"},
		{"a missing version", []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases", Versions: []string{"v2"}}},
			metav1.ConditionFalse, binderyv1alpha1.ReasonVersionsMissing, "CRD databases.db.example.com does not serve v2"},
		{"mixed scopes", []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases"}, {Group: "db.example.com", Resource: "regions"}},
			metav1.ConditionFalse, binderyv1alpha1.ReasonMixedScopes, "mix namespaced and cluster-scoped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := templatestatus.Resources(binderyv1alpha1.APIServiceExportTemplateSpec{Resources: tt.resources}, crds)
			cond := templatestatus.Ready(res, 3)
			assert.Equal(t, tt.wantStatus, cond.Status)
			assert.Equal(t, tt.wantReason, cond.Reason)
			assert.Contains(t, cond.Message, tt.wantMsg)
			assert.Equal(t, int64(3), cond.ObservedGeneration)
		})
	}
}

func TestTemplateBecomesReadyWhenItsCRDAppears(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	p.RunManager(t, func(mgr ctrl.Manager) error {
		return (&templatestatus.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
	tmpl := &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres"},
		Spec: binderyv1alpha1.APIServiceExportTemplateSpec{DisplayName: "PostgreSQL",
			Resources: []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases"}}},
	}
	require.NoError(t, p.Client.Create(t.Context(), tmpl))
	waitReady := func(want metav1.ConditionStatus, reason string) {
		framework.Eventually(t, func() (bool, string) {
			got := &binderyv1alpha1.APIServiceExportTemplate{}
			if err := p.Client.Get(t.Context(), client.ObjectKeyFromObject(tmpl), got); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(got.Status.Conditions, binderyv1alpha1.TemplateConditionReady)
			if c == nil {
				return false, "no Ready condition"
			}
			return c.Status == want && c.Reason == reason, c.Reason + ": " + c.Message
		}, framework.WaitTimeout)
	}
	waitReady(metav1.ConditionFalse, binderyv1alpha1.ReasonResourcesMissing)
	p.CreateCRD(t, "db.example.com", "databases", "Database", apiextensionsv1.NamespaceScoped, nil)
	waitReady(metav1.ConditionTrue, binderyv1alpha1.ReasonAllResourcesEstablished)
}
