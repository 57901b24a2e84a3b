package exportupdate_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportrequest"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportupdate"
	"github.com/bindery-dev/bindery/backend/internal/controller/templatestatus"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

const group = "db.example.com"

// specProps returns the properties of the spec of the CRD's only version.
func specProps(crd *apiextensionsv1.CustomResourceDefinition) map[string]apiextensionsv1.JSONSchemaProps {
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties
}

func exportSpecProps(t *testing.T, e *kubebindv1alpha1.APIServiceExport) map[string]apiextensionsv1.JSONSchemaProps {
	t.Helper()
	s := &apiextensionsv1.JSONSchemaProps{}
	require.NoError(t, json.Unmarshal(e.Spec.Versions[0].Schema.OpenAPIV3Schema.Raw, s))
	return s.Properties["spec"].Properties
}

// crdWithSize is a CRD whose spec has one string field, size.
func crdWithSize(plural, kind string) *apiextensionsv1.CustomResourceDefinition {
	crd := framework.SimpleCRD(group, plural, kind, apiextensionsv1.NamespaceScoped)
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{
		Type:       "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "string"}},
	}
	return crd
}

func TestExportUpdates(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	p.RunManager(t, func(mgr ctrl.Manager) error {
		rec := mgr.GetEventRecorder("bindery-backend")
		if err := (&exportrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec}).SetupWithManager(mgr); err != nil {
			return err
		}
		if err := (&templatestatus.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&exportupdate.Reconciler{Client: mgr.GetClient(), Recorder: rec}).SetupWithManager(mgr)
	})
	ctx := t.Context()
	c := p.Client
	p.Namespace(t, "consumer-a", map[string]string{consumer.RoleLabel: consumer.RoleCluster})
	p.Namespace(t, "consumer-b", map[string]string{consumer.RoleLabel: consumer.RoleCluster})

	// One CRD and template per policy, each bound by two consumers.
	policies := map[string]binderyv1alpha1.SchemaUpdatePolicy{
		"nonbreakings": "", // the default
		"alwayses":     binderyv1alpha1.SchemaUpdateAlways,
		"nevers":       binderyv1alpha1.SchemaUpdateNever,
	}
	for plural, policy := range policies {
		crd := crdWithSize(plural, "K"+plural)
		require.NoError(t, c.Create(ctx, crd))
		require.NoError(t, crds.WaitEstablished(ctx, c, crd.Name))
		require.NoError(t, c.Create(ctx, &binderyv1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: plural},
			Spec: binderyv1alpha1.APIServiceExportTemplateSpec{
				DisplayName:        plural,
				Resources:          []binderyv1alpha1.ExportedResource{{Group: group, Resource: plural}},
				SchemaUpdatePolicy: policy,
			},
		}))
		for _, ns := range []string{"consumer-a", "consumer-b"} {
			req := &kubebindv1alpha1.APIServiceExportRequest{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: plural},
				Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
					{GroupResource: kubebindv1alpha1.GroupResource{Group: group, Resource: plural}},
				}},
			}
			require.NoError(t, c.Create(ctx, req))
		}
	}
	exportOf := func(ns, plural string) *kubebindv1alpha1.APIServiceExport {
		e := &kubebindv1alpha1.APIServiceExport{}
		framework.Eventually(t, func() (bool, string) {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: plural + "." + group}, e); err != nil {
				return false, err.Error()
			}
			return true, ""
		}, framework.WaitTimeout)
		return e
	}
	// waitCondition waits until the export's SchemaUpdatesApplied has the
	// reason (True for UpToDate) and returns the export.
	waitCondition := func(ns, plural, reason string) *kubebindv1alpha1.APIServiceExport {
		t.Helper()
		e := &kubebindv1alpha1.APIServiceExport{}
		framework.Eventually(t, func() (bool, string) {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: plural + "." + group}, e); err != nil {
				return false, err.Error()
			}
			cond := conditions.Get(e, exportupdate.ConditionSchemaUpdatesApplied)
			if cond == nil {
				return false, "no SchemaUpdatesApplied condition"
			}
			want := corev1.ConditionFalse
			if reason == binderyv1alpha1.ReasonUpToDate {
				want = corev1.ConditionTrue
			}
			return cond.Status == want && (cond.Status == corev1.ConditionTrue || cond.Reason == reason),
				fmt.Sprintf("condition %s %s: %s", cond.Status, cond.Reason, cond.Message)
		}, framework.WaitTimeout)
		return e
	}
	// editCRD changes the CRD's spec schema with f.
	editCRD := func(plural string, f func(props map[string]apiextensionsv1.JSONSchemaProps)) {
		t.Helper()
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: plural + "." + group}, crd))
		f(specProps(crd))
		require.NoError(t, c.Update(ctx, crd))
	}
	hashes := map[string]string{}
	for plural := range policies {
		for _, ns := range []string{"consumer-a", "consumer-b"} {
			e := exportOf(ns, plural)
			hashes[ns+"/"+plural] = e.Annotations[kubebindv1alpha1.SourceSpecHashAnnotationKey]
			waitCondition(ns, plural, binderyv1alpha1.ReasonUpToDate)
		}
	}

	t.Run("NonBreaking applies an additive change to every export of the CRD", func(t *testing.T) {
		editCRD("nonbreakings", func(props map[string]apiextensionsv1.JSONSchemaProps) {
			props["replicas"] = apiextensionsv1.JSONSchemaProps{Type: "integer"}
		})
		for _, ns := range []string{"consumer-a", "consumer-b"} {
			var e *kubebindv1alpha1.APIServiceExport
			framework.Eventually(t, func() (bool, string) {
				e = waitCondition(ns, "nonbreakings", binderyv1alpha1.ReasonUpToDate)
				_, ok := exportSpecProps(t, e)["replicas"]
				return ok, "replicas not in the export yet"
			}, framework.WaitTimeout)
			assert.NotEqual(t, hashes[ns+"/nonbreakings"], e.Annotations[kubebindv1alpha1.SourceSpecHashAnnotationKey], "the hash follows the snapshot")
			note := p.WaitEvent(t, e, "SchemaUpdated")
			assert.Contains(t, note, "replicas")
		}
	})

	t.Run("NonBreaking refuses a type change and names the path on the export and the template", func(t *testing.T) {
		editCRD("nonbreakings", func(props map[string]apiextensionsv1.JSONSchemaProps) {
			props["size"] = apiextensionsv1.JSONSchemaProps{Type: "integer"}
		})
		for _, ns := range []string{"consumer-a", "consumer-b"} {
			e := waitCondition(ns, "nonbreakings", binderyv1alpha1.ReasonBreakingChange)
			cond := conditions.Get(e, exportupdate.ConditionSchemaUpdatesApplied)
			t.Logf("export condition: %s", cond.Message)
			assert.Contains(t, cond.Message, "spec.size")
			assert.Contains(t, cond.Message, "schemaUpdatePolicy Always")
			assert.Equal(t, "string", exportSpecProps(t, e)["size"].Type, "the export keeps the bound schema")
			note := p.WaitEvent(t, e, binderyv1alpha1.ReasonBreakingChange)
			assert.Contains(t, note, "spec.size")
		}
		tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "nonbreakings"}, tmpl))
			cond := meta.FindStatusCondition(tmpl.Status.Conditions, binderyv1alpha1.TemplateConditionSchemaUpdatesApplied)
			if cond == nil {
				return false, "no condition"
			}
			// Both consumers' exports are refused; the template counts them.
			return cond.Status == metav1.ConditionFalse && cond.Reason == binderyv1alpha1.ReasonBreakingChange && strings.Contains(cond.Message, "2 export(s)"),
				cond.Reason + ": " + cond.Message
		}, framework.WaitTimeout)
		cond := meta.FindStatusCondition(tmpl.Status.Conditions, binderyv1alpha1.TemplateConditionSchemaUpdatesApplied)
		assert.Contains(t, cond.Message, "spec.size")

		// Reverting the change clears the refusal on both.
		editCRD("nonbreakings", func(props map[string]apiextensionsv1.JSONSchemaProps) {
			props["size"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		})
		for _, ns := range []string{"consumer-a", "consumer-b"} {
			waitCondition(ns, "nonbreakings", binderyv1alpha1.ReasonUpToDate)
		}
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "nonbreakings"}, tmpl))
			cond := meta.FindStatusCondition(tmpl.Status.Conditions, binderyv1alpha1.TemplateConditionSchemaUpdatesApplied)
			return cond != nil && cond.Status == metav1.ConditionTrue, fmt.Sprintf("%v", cond)
		}, framework.WaitTimeout)
	})

	t.Run("Always applies a breaking change", func(t *testing.T) {
		editCRD("alwayses", func(props map[string]apiextensionsv1.JSONSchemaProps) {
			delete(props, "size")
		})
		framework.Eventually(t, func() (bool, string) {
			e := waitCondition("consumer-a", "alwayses", binderyv1alpha1.ReasonUpToDate)
			_, ok := exportSpecProps(t, e)["size"]
			return !ok, "size still in the export"
		}, framework.WaitTimeout)
	})

	t.Run("Never freezes the export and says so", func(t *testing.T) {
		editCRD("nevers", func(props map[string]apiextensionsv1.JSONSchemaProps) {
			props["replicas"] = apiextensionsv1.JSONSchemaProps{Type: "integer"}
		})
		e := waitCondition("consumer-a", "nevers", exportupdate.ReasonFrozen)
		assert.Contains(t, conditions.GetMessage(e, exportupdate.ConditionSchemaUpdatesApplied), "spec.replicas")
		assert.NotContains(t, exportSpecProps(t, e), "replicas")
		assert.Equal(t, hashes["consumer-a/nevers"], e.Annotations[kubebindv1alpha1.SourceSpecHashAnnotationKey])
	})

	t.Run("changing the template's policy applies the held change", func(t *testing.T) {
		tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "nevers"}, tmpl))
		tmpl.Spec.SchemaUpdatePolicy = binderyv1alpha1.SchemaUpdateNonBreaking
		require.NoError(t, c.Update(ctx, tmpl))
		framework.Eventually(t, func() (bool, string) {
			e := waitCondition("consumer-b", "nevers", binderyv1alpha1.ReasonUpToDate)
			_, ok := exportSpecProps(t, e)["replicas"]
			return ok, "replicas not in the export yet"
		}, framework.WaitTimeout)
	})

	t.Run("a template's claims and namespaces reach its existing exports, and go with it", func(t *testing.T) {
		claim := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}}
		editTemplate := func(f func(*binderyv1alpha1.APIServiceExportTemplate)) {
			require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
				tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
				if err := c.Get(ctx, client.ObjectKey{Name: "nonbreakings"}, tmpl); err != nil {
					return err
				}
				f(tmpl)
				return c.Update(ctx, tmpl)
			}))
		}
		settingsOf := func(ns string) contract.ExportSettings {
			s, err := contract.ReadExport(exportOf(ns, "nonbreakings").Annotations)
			require.NoError(t, err)
			return s
		}
		editTemplate(func(tmpl *binderyv1alpha1.APIServiceExportTemplate) {
			tmpl.Spec.PermissionClaims = []binderyv1alpha1.PermissionClaim{claim}
			tmpl.Spec.Scope = &binderyv1alpha1.BindingScope{Type: binderyv1alpha1.BindingScopeNamespaces, Namespaces: []string{"shop"}}
		})
		want := contract.ExportSettings{Claims: []binderyv1alpha1.PermissionClaim{claim}, Namespaces: []string{"shop"}}
		for _, ns := range []string{"consumer-a", "consumer-b"} {
			framework.Eventually(t, func() (bool, string) {
				got := settingsOf(ns)
				return got.Key() == want.Key(), fmt.Sprintf("%s has %+v", ns, got)
			}, framework.WaitTimeout)
		}
		editTemplate(func(tmpl *binderyv1alpha1.APIServiceExportTemplate) {
			tmpl.Spec.PermissionClaims = nil
			tmpl.Spec.Scope = nil
		})
		framework.Eventually(t, func() (bool, string) {
			got := settingsOf("consumer-a")
			return len(got.Claims) == 0 && len(got.Namespaces) == 0, fmt.Sprintf("%+v", got)
		}, framework.WaitTimeout)
	})

	t.Run("a deleted CRD leaves the export as it was, with a condition", func(t *testing.T) {
		before := exportOf("consumer-a", "alwayses")
		require.NoError(t, c.Delete(ctx, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "alwayses." + group}}))
		e := waitCondition("consumer-a", "alwayses", exportupdate.ReasonCRDMissing)
		assert.Equal(t, before.Spec, e.Spec)
	})
}
