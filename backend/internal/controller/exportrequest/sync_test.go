package exportrequest

import (
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

func TestWaitsFor(t *testing.T) {
	const msg = "waiting for the grant"
	pending := func(reason, message string) *kubebindv1alpha1.APIServiceExportRequest {
		r := &kubebindv1alpha1.APIServiceExportRequest{}
		r.Status.Phase = kubebindv1alpha1.APIServiceExportRequestPhasePending
		conditions.MarkFalse(r, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady, reason, conditionsapi.ConditionSeverityInfo, "%s", message)
		return r
	}
	failed := pending(reasonWaiting, msg)
	failed.Status.Phase = kubebindv1alpha1.APIServiceExportRequestPhaseFailed

	tests := []struct {
		name    string
		request *kubebindv1alpha1.APIServiceExportRequest
		want    bool
	}{
		{"a new request", &kubebindv1alpha1.APIServiceExportRequest{}, false},
		{"waiting for the same", pending(reasonWaiting, msg), true},
		{"waiting for something else", pending(reasonWaiting, "waiting for the CRD"), false},
		{"pending for another reason", pending("Other", msg), false},
		{"not pending", failed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, waitsFor(tt.request, msg))
		})
	}
}

// TestConfirmedPlan wants a request refused only as the API server has
// the catalogue and the exports: a cache that has not seen a template,
// CRD or namespace label yet, or still holds an export unbound a moment
// ago, is read again live.
func TestConfirmedPlan(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "consumer-a", Labels: map[string]string{consumer.RoleLabel: consumer.RoleCluster}}}
	unlabelled := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "consumer-a"}}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "databases.db.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "db.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "databases", Singular: "database", Kind: "Database", ListKind: "DatabaseList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}},
			}},
		},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{
			{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue},
		}},
	}
	tmpl := &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres"},
		Spec: binderyv1alpha1.APIServiceExportTemplateSpec{DisplayName: "PostgreSQL",
			Resources: []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases"}}},
	}
	request := &kubebindv1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "consumer-a", Name: "postgres", Annotations: map[string]string{consumer.TemplateAnnotation: "postgres"}},
		Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
			{GroupResource: kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}}}},
	}
	export := func(template string) *kubebindv1alpha1.APIServiceExport {
		return &kubebindv1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{
			Namespace: "consumer-a", Name: "databases.db.example.com", Labels: map[string]string{consumer.TemplateLabel: template}}}
	}
	objects := func(objs ...client.Object) client.Client {
		return fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objs...).Build()
	}
	tests := []struct {
		name        string
		cache, live client.Client
		refusal     string // "" for a plan
		existing    bool   // the plan keeps an existing export
	}{
		{"all in the cache", objects(ns, crd, tmpl), objects(), "", false},
		{"a template the cache has not seen yet", objects(ns, crd), objects(ns, crd, tmpl), "", false},
		{"a CRD the cache has not seen yet", objects(ns, tmpl), objects(ns, crd, tmpl), "", false},
		{"a namespace label the cache has not seen yet", objects(unlabelled, crd, tmpl), objects(ns, crd, tmpl), "", false},
		{"a template that is not there", objects(ns, crd), objects(ns, crd), `template "postgres" does not exist`, false},
		{"a namespace that is no cluster namespace", objects(unlabelled, crd, tmpl), objects(unlabelled, crd, tmpl), "is not a consumer cluster namespace", false},
		{"the same template's export", objects(ns, crd, tmpl, export("postgres")), objects(), "", true},
		{"another template's export only in the cache", objects(ns, crd, tmpl, export("mysql")), objects(ns, crd, tmpl), "", false},
		{"another template's export, in the cache and the API server", objects(ns, crd, tmpl, export("mysql")), objects(ns, crd, tmpl, export("mysql")), `already exists in this cluster's namespace from "mysql"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reconciler{Client: tt.cache, APIReader: tt.live}
			plan, err := r.confirmedPlan(t.Context(), request)
			if tt.refusal == "" {
				require.NoError(t, err)
				require.Len(t, plan, 1)
				assert.Equal(t, "databases.db.example.com", plan[0].crd.Name)
				assert.Equal(t, tt.existing, plan[0].existing != nil, "existing export")
				return
			}
			var ref *refusal
			require.ErrorAs(t, err, &ref)
			assert.Contains(t, ref.msg, tt.refusal)
		})
	}
}
