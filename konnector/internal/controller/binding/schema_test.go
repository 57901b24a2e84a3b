package binding_test

import (
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestSchemaUpdates: the provider's schema changes reach the consumer's
// CRD when they break nothing; the konnector refuses a breaking one itself,
// naming the field, and a binding with policy Never keeps its schema.
func TestSchemaUpdates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")

	// setSchema makes the export's spec have these fields, as the
	// backend does when the provider's CRD changes.
	setSchema := func(fields map[string]apiextensionsv1.JSONSchemaProps) {
		t.Helper()
		crd := framework.DatabaseCRD()
		yes := true
		crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &yes, Properties: fields}
		snap, err := crdsnapshot.FromCRD(crd, nil)
		require.NoError(t, err)
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			x := &kubebindv1alpha1.APIServiceExport{}
			if err := e.pc.Get(ctx, client.ObjectKey{Namespace: clusterNS, Name: e.binding.Name}, x); err != nil {
				return err
			}
			x.Spec.APIServiceExportCRDSpec = *snap
			return e.pc.Update(ctx, x)
		}))
	}
	installed := func() map[string]apiextensionsv1.JSONSchemaProps {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, crd))
		return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties
	}
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}

	t.Run("a compatible change reaches the consumer's CRD", func(t *testing.T) {
		setSchema(map[string]apiextensionsv1.JSONSchemaProps{"size": str})
		framework.Eventually(t, func() (bool, string) {
			return installed()["size"].Type == "string", "no spec.size yet"
		}, framework.WaitTimeout)
		waitCondition(t, e.cc, e.binding.Name, "SchemaInSync", corev1.ConditionTrue, "")
	})

	t.Run("a breaking change is refused here too, naming the field, and the schema stays", func(t *testing.T) {
		setSchema(map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}})
		msg := waitCondition(t, e.cc, e.binding.Name, "SchemaInSync", corev1.ConditionFalse, binding.ReasonSchemaUpdateRefused)
		assert.Contains(t, msg, "spec.size")
		assert.Contains(t, msg, "the installed schema is kept")
		assert.Equal(t, "string", installed()["size"].Type)
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionFalse, binding.ReasonSchemaUpdateRefused)
	})

	setPolicy := func(policy string) {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			b := &kubebindv1alpha1.APIServiceBinding{}
			if err := e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, b); err != nil {
				return err
			}
			if b.Annotations == nil {
				b.Annotations = map[string]string{}
			}
			if policy == "" {
				delete(b.Annotations, binderyv1alpha1.SchemaUpdatePolicyAnnotation)
			} else {
				b.Annotations[binderyv1alpha1.SchemaUpdatePolicyAnnotation] = policy
			}
			return e.cc.Update(ctx, b)
		}))
	}

	t.Run("with policy Never a compatible change waits until the policy goes", func(t *testing.T) {
		setPolicy(string(binderyv1alpha1.SchemaUpdateNever))
		setSchema(map[string]apiextensionsv1.JSONSchemaProps{"size": str, "tier": str})
		msg := waitCondition(t, e.cc, e.binding.Name, "SchemaInSync", corev1.ConditionFalse, binding.ReasonSchemaUpdateHeld)
		assert.Contains(t, msg, "the installed schema is kept")
		assert.NotContains(t, installed(), "tier")

		setPolicy("")
		framework.Eventually(t, func() (bool, string) {
			_, ok := installed()["tier"]
			return ok, "no spec.tier yet"
		}, framework.WaitTimeout)
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	})

	t.Run("a policy that is not one turns Ready false, and back", func(t *testing.T) {
		setPolicy("Sometimes")
		msg := waitCondition(t, e.cc, e.binding.Name, "Syncing", corev1.ConditionFalse, binding.ReasonInvalidBinding)
		assert.Contains(t, msg, `is "Sometimes"; it may be NonBreaking or Never`)
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionFalse, binding.ReasonInvalidBinding)
		setPolicy("")
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	})
}
