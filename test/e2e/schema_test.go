package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

// TestSchemaChangesReachConsumers changes a provider CRD after the bind,
// through the real backend and konnector: a compatible change reaches the
// consumer's CRD; a breaking one, which the template's policy Always lets
// the backend put in the export, is refused by the konnector itself, which
// keeps the consumer's CRD and says why on the binding.
func TestSchemaChangesReachConsumers(t *testing.T) {
	t.Parallel()
	scenario(t)
	cs := framework.StartClusters(t, "provider", "team-a")
	p := startProvider(t, cs[0])
	ctx := t.Context()
	const name = "carts.shop.example.com"
	p.offerCarts(t, map[string]any{"schemaUpdatePolicy": "Always"})

	a := startConsumer(t, cs[1])
	require.Contains(t, a.bind(t, p, "alice", "carts"), "binding(s) Ready")

	setItems := func(typ string) {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := p.cluster.Client.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
				return err
			}
			spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			spec.Properties = map[string]apiextensionsv1.JSONSchemaProps{"items": {Type: typ}}
			crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
			return p.cluster.Client.Update(ctx, crd)
		}))
	}
	consumerItems := func() string {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, a.client.Get(ctx, client.ObjectKey{Name: name}, crd))
		return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["items"].Type
	}
	schemaInSync := func(status string) map[string]any {
		var c map[string]any
		framework.Eventually(t, func() (bool, string) {
			b, err := a.dyn.Resource(bindings).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			c = stack.Condition(b, "SchemaInSync")
			return c["status"] == status, fmt.Sprintf("SchemaInSync: %v", c)
		}, framework.WaitTimeout)
		return c
	}

	t.Run("a compatible change reaches the consumer's CRD", func(t *testing.T) {
		setItems("string")
		framework.Eventually(t, func() (bool, string) {
			return consumerItems() == "string", "spec.items not installed yet"
		}, framework.WaitTimeout)
		schemaInSync("True")
	})

	t.Run("a breaking change stops at the consumer, with the reason", func(t *testing.T) {
		setItems("integer")
		c := schemaInSync("False")
		assert.Equal(t, "SchemaUpdateRefused", c["reason"])
		assert.Contains(t, c["message"], `v1: spec.items: type changed from "string" to "integer"`)
		assert.Equal(t, "string", consumerItems(), "the consumer's CRD stays")
	})
}
