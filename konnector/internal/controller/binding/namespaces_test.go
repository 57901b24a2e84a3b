package binding_test

import (
	"fmt"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestNamespaceLimitedBindings binds databases from two providers into one
// consumer, each binding limited to its own namespaces: each object syncs
// with the provider of its namespace, the CRD is installed once and shared
// only with the same schema, a namespace goes to one binding only, a
// namespace given up keeps syncing while it holds objects, and unbinding
// one provider leaves the other's objects and the CRD alone.
func TestNamespaceLimitedBindings(t *testing.T) {
	t.Parallel()
	cs := framework.StartClusters(t, "provider-a", "provider-b", "consumer")
	provA, provB, cons := cs[0], cs[1], cs[2]
	framework.ProviderSide(t, provA)
	// Provider B first offers databases with another schema.
	framework.ProviderSide(t, provB, func(e *kubebindv1alpha1.APIServiceExport) {
		e.Spec.Versions[0].Schema.OpenAPIV3Schema.Raw = []byte(`{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"spec":{"type":"object","properties":{"size":{"type":"integer"}}}}}`)
	})
	framework.ConsumerSide(t, cons, provA)
	ctx := t.Context()
	cc := cons.Client
	require.NoError(t, cc.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-bind", Name: "provider-b-kubeconfig"},
		Data:       map[string][]byte{"kubeconfig": framework.ProviderKubeconfig(t, provB)},
	}))
	for _, ns := range []string{"team-a", "team-b", "team-c", "team-d"} {
		require.NoError(t, cc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	runKonnector(t, cons)
	consumerDyn, err := dynamic.NewForConfig(cons.Config)
	require.NoError(t, err)
	dynA, err := dynamic.NewForConfig(provA.Config)
	require.NoError(t, err)
	dynB, err := dynamic.NewForConfig(provB.Config)
	require.NoError(t, err)

	// The bindings are named apart from the other tests' (the sync
	// metrics are per binding name, in one process).
	bindA := framework.Binding()
	bindA.Name = "databases-team-a"
	bindA.Annotations = map[string]string{binderyv1alpha1.BindingNamespacesAnnotation: "team-a", binderyv1alpha1.ExportAnnotation: framework.BindingName}
	require.NoError(t, cc.Create(ctx, bindA))
	waitCondition(t, cc, bindA.Name, "Ready", corev1.ConditionTrue, "")
	bindB := framework.Binding()
	bindB.Name = framework.BindingName + "-team-b"
	bindB.Annotations = map[string]string{binderyv1alpha1.BindingNamespacesAnnotation: "team-b", binderyv1alpha1.ExportAnnotation: framework.BindingName}
	bindB.Spec.KubeconfigSecretRef.Name = "provider-b-kubeconfig"
	require.NoError(t, cc.Create(ctx, bindB))

	crd := func() *apiextensionsv1.CustomResourceDefinition {
		c := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, c))
		return c
	}
	owners := func() []string {
		var names []string
		for _, o := range crd().OwnerReferences {
			names = append(names, o.Name)
		}
		return names
	}

	t.Run("a provider with another schema is refused, and nothing is overwritten", func(t *testing.T) {
		msg := waitCondition(t, cc, bindB.Name, "SchemaInSync", corev1.ConditionFalse, binding.ReasonSchemaMismatch)
		assert.Contains(t, msg, "CRD databases.db.example.com is installed from binding databases-team-a")
		assert.Contains(t, msg, "nothing was changed")
		waitCondition(t, cc, bindB.Name, "Ready", corev1.ConditionFalse, binding.ReasonSchemaMismatch)
		assert.Equal(t, []string{bindA.Name}, owners())
		assert.NotContains(t, string(crd().Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"].Type), "integer")
	})

	t.Run("once the schemas match, the second binding shares the CRD", func(t *testing.T) {
		same := &kubebindv1alpha1.APIServiceExport{}
		require.NoError(t, provA.Client.Get(ctx, client.ObjectKey{Namespace: framework.ClusterNS, Name: framework.BindingName}, same))
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			e := &kubebindv1alpha1.APIServiceExport{}
			if err := provB.Client.Get(ctx, client.ObjectKey{Namespace: framework.ClusterNS, Name: framework.BindingName}, e); err != nil {
				return err
			}
			e.Spec.APIServiceExportCRDSpec = same.Spec.APIServiceExportCRDSpec
			return provB.Client.Update(ctx, e)
		}))
		waitCondition(t, cc, bindB.Name, "Ready", corev1.ConditionTrue, "")
		assert.ElementsMatch(t, []string{bindA.Name, bindB.Name}, owners())
		assert.True(t, metav1.IsControlledBy(crd(), getBinding(t, cc, bindA.Name)), "the first binding keeps control")
	})

	create := func(ns, name string) {
		t.Helper()
		o := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"namespace": ns, "name": name},
			"spec":     map[string]any{"size": "small"},
		}}
		_, err := consumerDyn.Resource(framework.Databases).Namespace(ns).Create(ctx, o, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	copyOn := func(d dynamic.Interface, ns, name string) (*unstructured.Unstructured, error) {
		return d.Resource(framework.Databases).Namespace(framework.ClusterNS+"-"+ns).Get(ctx, name, metav1.GetOptions{})
	}
	waitCopy := func(d dynamic.Interface, ns, name string) {
		t.Helper()
		framework.Eventually(t, func() (bool, string) {
			_, err := copyOn(d, ns, name)
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
	}
	writeStatus := func(d dynamic.Interface, ns, name, phase string) {
		t.Helper()
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			c, err := copyOn(d, ns, name)
			if err != nil {
				return err
			}
			_ = unstructured.SetNestedField(c.Object, phase, "status", "phase")
			_, err = d.Resource(framework.Databases).Namespace(c.GetNamespace()).UpdateStatus(ctx, c, metav1.UpdateOptions{})
			return err
		}))
	}
	waitPhase := func(ns, name, phase string) {
		t.Helper()
		framework.Eventually(t, func() (bool, string) {
			o, err := consumerDyn.Resource(framework.Databases).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			got, _, _ := unstructured.NestedString(o.Object, "status", "phase")
			return got == phase, "status.phase " + got
		}, framework.WaitTimeout)
	}

	t.Run("each namespace's objects go to its own provider, and status comes back from it", func(t *testing.T) {
		create("team-a", "orders")
		create("team-b", "billing")
		waitCopy(dynA, "team-a", "orders")
		waitCopy(dynB, "team-b", "billing")
		writeStatus(dynA, "team-a", "orders", "FromA")
		writeStatus(dynB, "team-b", "billing", "FromB")
		waitPhase("team-a", "orders", "FromA")
		waitPhase("team-b", "billing", "FromB")
		_, err := copyOn(dynB, "team-a", "orders")
		assert.True(t, apierrors.IsNotFound(err), "provider B has no copy of team-a's object: %v", err)
		_, err = copyOn(dynA, "team-b", "billing")
		assert.True(t, apierrors.IsNotFound(err), "provider A has no copy of team-b's object: %v", err)
		for _, p := range []*framework.Cluster{provA, provB} {
			asns := &kubebindv1alpha1.APIServiceNamespaceList{}
			require.NoError(t, p.Client.List(ctx, asns, client.InNamespace(framework.ClusterNS)))
			assert.Len(t, asns.Items, 1, "%s was asked for one namespace", p.Name)
		}
	})

	t.Run("an object in a namespace no binding serves stays here, with a warning saying what is bound", func(t *testing.T) {
		create("team-c", "stray")
		waitEvent(t, cc, "team-c", "stray", "NamespaceNotBound")
		events := &eventsv1.EventList{}
		require.NoError(t, cc.List(ctx, events, client.InNamespace("team-c")))
		for _, ev := range events.Items {
			if ev.Reason == "NamespaceNotBound" {
				assert.Contains(t, ev.Note, "No binding of this resource serves namespace team-c (binding databases-team-a serves team-a)")
				assert.Contains(t, ev.Note, "kubectl bind <url> --namespace team-c")
			}
		}
		for _, d := range []dynamic.Interface{dynA, dynB} {
			_, err := copyOn(d, "team-c", "stray")
			assert.True(t, apierrors.IsNotFound(err), "no copy: %v", err)
		}
	})

	t.Run("a namespace another binding serves is not taken", func(t *testing.T) {
		setNamespaces(t, cc, bindB.Name, "team-b,team-a")
		msg := waitCondition(t, cc, bindB.Name, "NamespacesBound", corev1.ConditionFalse, binding.ReasonNamespaceConflict)
		assert.Contains(t, msg, "team-a (served by binding databases-team-a)")
		waitCondition(t, cc, bindB.Name, "Ready", corev1.ConditionFalse, binding.ReasonNamespaceConflict)
		_, err := copyOn(dynB, "team-a", "orders")
		assert.True(t, apierrors.IsNotFound(err), "provider B gets no copy of team-a's object: %v", err)
		setNamespaces(t, cc, bindB.Name, "team-b")
		waitCondition(t, cc, bindB.Name, "Ready", corev1.ConditionTrue, "")
	})

	t.Run("a namespace given up keeps syncing while it holds objects, then is released", func(t *testing.T) {
		setNamespaces(t, cc, bindA.Name, "team-d")
		msg := waitCondition(t, cc, bindA.Name, "NamespacesBound", corev1.ConditionFalse, binding.ReasonNamespaceInUse)
		assert.Contains(t, msg, "team-a (1 object(s))")
		assert.ElementsMatch(t, []string{"team-a", "team-d"}, servingNamespaces(t, cc, bindA.Name))
		writeStatus(dynA, "team-a", "orders", "StillA")
		waitPhase("team-a", "orders", "StillA")

		require.NoError(t, consumerDyn.Resource(framework.Databases).Namespace("team-a").Delete(ctx, "orders", metav1.DeleteOptions{}))
		waitCondition(t, cc, bindA.Name, "NamespacesBound", corev1.ConditionTrue, "")
		assert.Equal(t, []string{"team-d"}, servingNamespaces(t, cc, bindA.Name))
		_, err := copyOn(dynA, "team-a", "orders")
		assert.True(t, apierrors.IsNotFound(err), "the copy went with the object: %v", err)

		setNamespaces(t, cc, bindB.Name, "team-b,team-a")
		waitCondition(t, cc, bindB.Name, "Ready", corev1.ConditionTrue, "")
		create("team-a", "moved")
		waitCopy(dynB, "team-a", "moved")
		_, err = copyOn(dynA, "team-a", "moved")
		assert.True(t, apierrors.IsNotFound(err), "team-a now goes to provider B: %v", err)
	})

	create("team-d", "reports")
	waitCopy(dynA, "team-d", "reports")

	t.Run("a shared CRD changes only once every provider offers the new schema", func(t *testing.T) {
		const widened = `{"type":"object","properties":{` +
			`"spec":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"tier":{"type":"string"}}},` +
			`"status":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}`
		setSchema := func(p *framework.Cluster) {
			require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
				e := &kubebindv1alpha1.APIServiceExport{}
				if err := p.Client.Get(ctx, client.ObjectKey{Namespace: framework.ClusterNS, Name: framework.BindingName}, e); err != nil {
					return err
				}
				e.Spec.Versions[0].Schema.OpenAPIV3Schema.Raw = []byte(widened)
				return p.Client.Update(ctx, e)
			}))
		}
		hasTier := func() bool {
			_, ok := crd().Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["tier"]
			return ok
		}
		setSchema(provA)
		msg := waitCondition(t, cc, bindA.Name, "SchemaInSync", corev1.ConditionFalse, binding.ReasonSchemaMismatch)
		assert.Contains(t, msg, "which binding(s) "+bindB.Name+" share from other providers that do not offer it (yet)")
		assert.False(t, hasTier(), "the installed schema is kept")
		writeStatus(dynA, "team-d", "reports", "Held")
		waitPhase("team-d", "reports", "Held")

		setSchema(provB)
		framework.Eventually(t, func() (bool, string) { return hasTier(), "spec.tier not installed yet" }, framework.WaitTimeout)
		waitCondition(t, cc, bindA.Name, "SchemaInSync", corev1.ConditionTrue, "")
		waitCondition(t, cc, bindB.Name, "SchemaInSync", corev1.ConditionTrue, "")
	})

	t.Run("unbinding one provider leaves the other's objects and the CRD, and frees its namespaces", func(t *testing.T) {
		setNamespaces(t, cc, bindB.Name, "team-b,team-a,team-d")
		waitCondition(t, cc, bindB.Name, "NamespacesBound", corev1.ConditionFalse, binding.ReasonNamespaceConflict)
		require.NoError(t, cc.Delete(ctx, getBinding(t, cc, bindA.Name)))
		framework.Eventually(t, func() (bool, string) {
			err := cc.Get(ctx, client.ObjectKey{Name: bindA.Name}, &kubebindv1alpha1.APIServiceBinding{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		_, err := copyOn(dynA, "team-d", "reports")
		assert.True(t, apierrors.IsNotFound(err), "provider A's copy is gone: %v", err)
		assert.Equal(t, []string{bindB.Name}, owners())
		assert.True(t, metav1.IsControlledBy(crd(), getBinding(t, cc, bindB.Name)), "control passed on")
		for _, o := range [][2]string{{"team-b", "billing"}, {"team-a", "moved"}} {
			_, err := consumerDyn.Resource(framework.Databases).Namespace(o[0]).Get(ctx, o[1], metav1.GetOptions{})
			require.NoError(t, err, "%s/%s stays", o[0], o[1])
			_, err = copyOn(dynB, o[0], o[1])
			require.NoError(t, err, "its copy on provider B stays")
		}
		writeStatus(dynB, "team-b", "billing", "AfterUnbind")
		waitPhase("team-b", "billing", "AfterUnbind")

		waitCondition(t, cc, bindB.Name, "NamespacesBound", corev1.ConditionTrue, "")
		create("team-d", "taken-over")
		waitCopy(dynB, "team-d", "taken-over")
	})
}

func getBinding(t *testing.T, c client.Client, name string) *kubebindv1alpha1.APIServiceBinding {
	t.Helper()
	b := &kubebindv1alpha1.APIServiceBinding{}
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Name: name}, b))
	return b
}

// setNamespaces limits binding name to namespaces, as kubectl bind
// --namespace records them.
func setNamespaces(t *testing.T, c client.Client, name, namespaces string) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b := getBinding(t, c, name)
		b.Annotations[binderyv1alpha1.BindingNamespacesAnnotation] = namespaces
		return c.Update(t.Context(), b)
	}))
}

func servingNamespaces(t *testing.T, c client.Client, name string) []string {
	t.Helper()
	return contract.SplitNamespaces(getBinding(t, c, name).Annotations[binderyv1alpha1.ServingNamespacesAnnotation])
}
