package exportrequest_test

import (
	"fmt"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterobjects"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportrequest"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func template(name string, resources ...binderyv1alpha1.ExportedResource) *binderyv1alpha1.APIServiceExportTemplate {
	return &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       binderyv1alpha1.APIServiceExportTemplateSpec{DisplayName: name, Resources: resources},
	}
}

func request(ns, name string, annotations map[string]string, res ...kubebindv1alpha1.APIServiceExportRequestResource) *kubebindv1alpha1.APIServiceExportRequest {
	return &kubebindv1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec:       kubebindv1alpha1.APIServiceExportRequestSpec{Resources: res},
	}
}

func res(group, resource string, versions ...string) kubebindv1alpha1.APIServiceExportRequestResource {
	return kubebindv1alpha1.APIServiceExportRequestResource{GroupResource: kubebindv1alpha1.GroupResource{Group: group, Resource: resource}, Versions: versions}
}

// waitPhase waits for a terminal or expected phase and returns the request.
func waitPhase(t *testing.T, c client.Client, req *kubebindv1alpha1.APIServiceExportRequest, phase kubebindv1alpha1.APIServiceExportRequestPhase) *kubebindv1alpha1.APIServiceExportRequest {
	t.Helper()
	got := &kubebindv1alpha1.APIServiceExportRequest{}
	framework.Eventually(t, func() (bool, string) {
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(req), got); err != nil {
			return false, err.Error()
		}
		return got.Status.Phase == phase, fmt.Sprintf("phase %q, message %q", got.Status.Phase, got.Status.TerminalMessage)
	}, framework.WaitTimeout)
	return got
}

func TestExportRequests(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	p.RunManager(t, func(mgr ctrl.Manager) error {
		return (&exportrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("bindery-backend")}).SetupWithManager(mgr)
	})
	ctx := t.Context()
	c := p.Client

	p.CreateCRD(t, "db.example.com", "databases", "Database", apiextensionsv1.NamespaceScoped, nil)
	p.CreateCRD(t, "db.example.com", "backups", "Backup", apiextensionsv1.NamespaceScoped, nil)
	p.CreateCRD(t, "db.example.com", "regions", "Region", apiextensionsv1.ClusterScoped, nil)
	p.CreateCRD(t, "cache.example.com", "caches", "Cache", apiextensionsv1.NamespaceScoped, map[string]string{catalog.ExportedLabel: "true"})
	p.CreateCRD(t, "secret.example.com", "internals", "Internal", apiextensionsv1.NamespaceScoped, nil)
	require.NoError(t, c.Create(ctx, template("postgres", binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "databases", Versions: []string{"v1"}})))
	require.NoError(t, c.Create(ctx, template("postgres-admin",
		binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "databases"},
		binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "regions"})))
	for name, resource := range map[string]string{"backups-per-cluster": "backups", "regions-namespaced": "regions"} {
		tmpl := template(name, binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: resource})
		tmpl.Spec.ClusterScopedIsolation = binderyv1alpha1.IsolationNamespaced
		require.NoError(t, c.Create(ctx, tmpl))
	}
	p.Namespace(t, "consumer-a", map[string]string{consumer.RoleLabel: consumer.RoleCluster})

	t.Run("Namespaced isolation offers a namespaced CRD cluster-scoped", func(t *testing.T) {
		req := request("consumer-a", "backups", map[string]string{consumer.TemplateAnnotation: "backups-per-cluster"}, res("db.example.com", "backups"))
		require.NoError(t, c.Create(ctx, req))
		waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded)
		export := &kubebindv1alpha1.APIServiceExport{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "consumer-a", Name: "backups.db.example.com"}, export))
		assert.Equal(t, apiextensionsv1.ClusterScoped, export.Spec.Scope, "what consumers install")
		assert.Equal(t, kubebindv1alpha1.ClusterScope, export.Spec.InformerScope)
		assert.Equal(t, kubebindv1alpha1.IsolationNamespaced, export.Spec.ClusterScopedIsolation)
	})

	t.Run("a request for an offered CRD creates its export", func(t *testing.T) {
		req := request("consumer-a", "db", nil, res("db.example.com", "databases"))
		require.NoError(t, c.Create(ctx, req))
		got := waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded)
		assert.Empty(t, got.Status.TerminalMessage)

		export := &kubebindv1alpha1.APIServiceExport{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "consumer-a", Name: "databases.db.example.com"}, export))
		assert.Equal(t, "Database", export.Spec.Names.Kind)
		assert.Equal(t, kubebindv1alpha1.NamespacedScope, export.Spec.InformerScope)
		assert.Equal(t, "postgres", export.Labels[consumer.TemplateLabel])
		assert.NotEmpty(t, export.Annotations[kubebindv1alpha1.SourceSpecHashAnnotationKey])
		require.Len(t, export.Spec.Versions, 1)
		assert.True(t, export.Spec.Versions[0].Storage)
		assert.Contains(t, p.WaitEvent(t, got, "Exported"), "databases.db.example.com")
		assert.Contains(t, p.WaitEvent(t, export, "Created"), `for "postgres"`)

		// Idempotent: asking again for the same thing succeeds and
		// changes nothing.
		again := request("consumer-a", "db-again", nil, res("db.example.com", "databases"))
		require.NoError(t, c.Create(ctx, again))
		waitPhase(t, c, again, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded)
		after := &kubebindv1alpha1.APIServiceExport{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(export), after))
		assert.Equal(t, export.ResourceVersion, after.ResourceVersion)
	})

	t.Run("a plain CRD labelled exported is offered alone", func(t *testing.T) {
		req := request("consumer-a", "cache", nil, res("cache.example.com", "caches"))
		require.NoError(t, c.Create(ctx, req))
		waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded)
	})

	bad := []struct {
		name        string
		namespace   string
		annotations map[string]string
		resources   []kubebindv1alpha1.APIServiceExportRequestResource
		wantMessage string
	}{
		{"a CRD that is not offered", "consumer-a", nil, []kubebindv1alpha1.APIServiceExportRequestResource{res("secret.example.com", "internals")},
			"internals.secret.example.com is not offered by this provider"},
		{"a CRD that does not exist", "consumer-a", nil, []kubebindv1alpha1.APIServiceExportRequestResource{res("nothing.example.com", "ghosts")},
			"CRD ghosts.nothing.example.com does not exist on the provider"},
		{"resources of mixed scope", "consumer-a", map[string]string{consumer.TemplateAnnotation: "postgres-admin"},
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "databases"), res("db.example.com", "regions")},
			"the request mixes scopes: regions.db.example.com is Cluster"},
		{"a version that is not offered", "consumer-a", map[string]string{consumer.TemplateAnnotation: "postgres"},
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "databases", "v2")},
			`version v2 of databases.db.example.com is not offered by "postgres"`},
		{"a template that does not exist", "consumer-a", map[string]string{consumer.TemplateAnnotation: "mysql"},
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "databases")},
			`template "mysql" does not exist or is being deleted`},
		{"a template that does not offer the resource", "consumer-a", map[string]string{consumer.TemplateAnnotation: "postgres"},
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("cache.example.com", "caches")},
			`template "postgres" does not offer caches.cache.example.com`},
		{"resources no single service offers", "consumer-a", nil,
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "databases"), res("cache.example.com", "caches")},
			"no single service offers all of the requested resources together"},
		{"a name clash with an export from another template", "consumer-a", map[string]string{consumer.TemplateAnnotation: "postgres-admin"},
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "databases")},
			`APIServiceExport databases.db.example.com already exists in this cluster's namespace from "postgres"`},
		{"Namespaced isolation of a cluster-scoped CRD", "consumer-a", map[string]string{consumer.TemplateAnnotation: "regions-namespaced"},
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "regions")},
			"the CRD must be namespaced on the provider, and it is cluster-scoped; use Prefixed or None isolation"},
		{"a namespace that is not a consumer's", "default", nil,
			[]kubebindv1alpha1.APIServiceExportRequestResource{res("db.example.com", "databases")},
			"namespace default is not a consumer cluster namespace"},
	}
	for i, tt := range bad {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			req := request(tt.namespace, fmt.Sprintf("bad-%d", i), tt.annotations, tt.resources...)
			require.NoError(t, c.Create(ctx, req))
			got := waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseFailed)
			assert.Contains(t, got.Status.TerminalMessage, tt.wantMessage)
			assert.Contains(t, p.WaitEvent(t, got, "Refused"), tt.wantMessage, "every decision is an event")
		})
	}

	t.Run("a request for objects granted by name waits for the grant of create", func(t *testing.T) {
		p.Namespace(t, "consumer-c", map[string]string{consumer.RoleLabel: consumer.RoleCluster})
		require.NoError(t, c.Create(ctx, template("regions", binderyv1alpha1.ExportedResource{Group: "db.example.com", Resource: "regions"})))
		req := request("consumer-c", "regions", map[string]string{consumer.TemplateAnnotation: "regions"}, res("db.example.com", "regions"))
		require.NoError(t, c.Create(ctx, req))
		want := "the provider grants create of regions.db.example.com a few seconds after it first offers it"
		got := &kubebindv1alpha1.APIServiceExportRequest{}
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(req), got))
			msg := conditions.GetMessage(got, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady)
			return strings.Contains(msg, want), fmt.Sprintf("phase %q, message %q", got.Status.Phase, msg)
		}, framework.WaitTimeout)
		assert.Equal(t, kubebindv1alpha1.APIServiceExportRequestPhasePending, got.Status.Phase)
		assert.Contains(t, p.WaitEvent(t, got, "Waiting"), want)
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "consumer-c", Name: "regions.db.example.com"}, &kubebindv1alpha1.APIServiceExport{}),
			"the export is there meanwhile")

		// The consumer's grant, as the clusterobjects controller writes
		// it: its arrival retries the request.
		require.NoError(t, c.Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: clusterobjects.RoleName("consumer-c"), Labels: map[string]string{consumer.ClusterNamespaceLabel: "consumer-c"}},
			Rules:      rbacgrant.ClusterObjectRules([]rbacgrant.ClusterResource{{Group: "db.example.com", Resource: "regions", Create: true}}),
		}))
		waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded)
	})

	t.Run("a request for a CRD that appears later succeeds without a timeout", func(t *testing.T) {
		p.Namespace(t, "consumer-late", map[string]string{consumer.RoleLabel: consumer.RoleCluster})
		late := framework.SimpleCRD("late.example.com", "laters", "Later", apiextensionsv1.NamespaceScoped)
		require.NoError(t, c.Create(ctx, template("later", binderyv1alpha1.ExportedResource{Group: "late.example.com", Resource: "laters"})))
		req := request("consumer-late", "late", map[string]string{consumer.TemplateAnnotation: "later"}, res("late.example.com", "laters"))
		require.NoError(t, c.Create(ctx, req))
		waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseFailed)
		// A refused request is final; a new one after the CRD exists works.
		require.NoError(t, c.Create(ctx, late))
		require.NoError(t, crds.WaitEstablished(ctx, c, late.Name))
		req2 := request("consumer-late", "late-2", map[string]string{consumer.TemplateAnnotation: "later"}, res("late.example.com", "laters"))
		require.NoError(t, c.Create(ctx, req2))
		waitPhase(t, c, req2, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded)
	})

	t.Run("a deleted template keeps existing exports and refuses new requests", func(t *testing.T) {
		p.Namespace(t, "consumer-b", map[string]string{consumer.RoleLabel: consumer.RoleCluster})
		require.NoError(t, c.Delete(ctx, template("postgres")))
		framework.Eventually(t, func() (bool, string) {
			err := c.Get(ctx, client.ObjectKey{Name: "postgres"}, &binderyv1alpha1.APIServiceExportTemplate{})
			return client.IgnoreNotFound(err) == nil && err != nil, "template still there"
		}, framework.WaitTimeout)
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "consumer-a", Name: "databases.db.example.com"}, &kubebindv1alpha1.APIServiceExport{}),
			"the existing export stays")
		req := request("consumer-b", "db", map[string]string{consumer.TemplateAnnotation: "postgres"}, res("db.example.com", "databases"))
		require.NoError(t, c.Create(ctx, req))
		got := waitPhase(t, c, req, kubebindv1alpha1.APIServiceExportRequestPhaseFailed)
		assert.Contains(t, got.Status.TerminalMessage, `template "postgres" does not exist or is being deleted`)
	})
}
