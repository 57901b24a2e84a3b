package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/test/framework"
)

// TestClaimsByName binds a template whose permission claims name their
// objects, or select them by label, through the real backend and
// konnector: the named ConfigMap and the labelled Secret come from the
// provider, the named Secret and the labelled ConfigMap go to it, while
// the consumer's provider credentials can read nothing else of those
// kinds in its namespace there, and create nothing else of the kinds
// claimed by name.
func TestClaimsByName(t *testing.T) {
	t.Parallel()
	scenario(t)
	cs := framework.StartClusters(t, "provider", "team-a")
	p := startProvider(t, cs[0])
	ctx := t.Context()
	p.offerCarts(t, map[string]any{"permissionClaims": []any{
		map[string]any{"resource": "configmaps", "direction": "ProviderToConsumer", "selector": map[string]any{"names": []any{"price-list"}}},
		map[string]any{"resource": "secrets", "direction": "ConsumerToProvider", "selector": map[string]any{"names": []any{"cart-token"}}},
		map[string]any{"resource": "secrets", "direction": "ProviderToConsumer", "selector": map[string]any{
			"labelSelector": map[string]any{"matchLabels": map[string]any{"shop.example.com/public": "true"}}}},
		map[string]any{"resource": "configmaps", "direction": "ConsumerToProvider", "selector": map[string]any{
			"labelSelector": map[string]any{"matchLabels": map[string]any{"shop.example.com/share": "true"}}}},
		map[string]any{"resource": "secrets", "direction": "ConsumerToProvider", "selector": map[string]any{
			"reference": map[string]any{"namePath": "spec.paymentRef.name"}}},
	}})

	a := startConsumer(t, cs[1])
	const name = "carts.shop.example.com"
	require.Contains(t, a.bind(t, p, "alice", "carts"), "binding(s) Ready")
	carts := schema.GroupVersionResource{Group: "shop.example.com", Version: "v1", Resource: "carts"}
	_, err := a.dyn.Resource(carts).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "shop.example.com/v1", "kind": "Cart", "metadata": map[string]any{"name": "mine"}, "spec": map[string]any{}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	svc := serviceNamespace(t, p, "default")
	pc := p.cluster.Client

	t.Run("the named ConfigMap comes from the provider, and nothing else of its kind", func(t *testing.T) {
		for _, n := range []string{"price-list", "internal"} {
			require.NoError(t, pc.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: n}, Data: map[string]string{"k": n}}))
		}
		got := &corev1.ConfigMap{}
		framework.Eventually(t, func() (bool, string) {
			err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "price-list"}, got)
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		assert.Equal(t, "price-list", got.Data["k"])
		err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "internal"}, got)
		assert.True(t, apierrors.IsNotFound(err), "an unclaimed ConfigMap stays on the provider: %v", err)
	})

	t.Run("the named Secret goes to the provider, and nothing else of its kind", func(t *testing.T) {
		for _, n := range []string{"cart-token", "private"} {
			require.NoError(t, a.client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n}, StringData: map[string]string{"k": n}}))
		}
		got := &corev1.Secret{}
		framework.Eventually(t, func() (bool, string) {
			err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "cart-token"}, got)
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		assert.Equal(t, "cart-token", string(got.Data["k"]))
		err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "private"}, got)
		assert.True(t, apierrors.IsNotFound(err), "an unclaimed Secret stays home: %v", err)
	})

	t.Run("a Secret a claim selects by label comes from the provider, granted by name while it is selected", func(t *testing.T) {
		receipt := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: "receipt", Labels: map[string]string{"shop.example.com/public": "true"}},
			StringData: map[string]string{"k": "receipt"}}
		require.NoError(t, pc.Create(ctx, receipt))
		require.NoError(t, pc.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: "vault"}, StringData: map[string]string{"k": "vault"}}))
		framework.Eventually(t, func() (bool, string) {
			err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "receipt"}, &corev1.Secret{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "vault"}, &corev1.Secret{})
		assert.True(t, apierrors.IsNotFound(err), "an unselected Secret stays on the provider: %v", err)

		creds := a.providerClientOf(t, name)
		secrets := creds.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(svc)
		_, err = secrets.Get(ctx, "receipt", metav1.GetOptions{})
		require.NoError(t, err, "the selected Secret")
		_, err = secrets.Get(ctx, "vault", metav1.GetOptions{})
		assert.True(t, apierrors.IsForbidden(err), "an unselected Secret: want 403, got %v", err)

		// Unlabelled, it is no longer claimed: its copy goes, and so
		// does the grant.
		require.NoError(t, pc.Get(ctx, client.ObjectKeyFromObject(receipt), receipt))
		receipt.Labels = nil
		require.NoError(t, pc.Update(ctx, receipt))
		framework.Eventually(t, func() (bool, string) {
			err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "receipt"}, &corev1.Secret{})
			return apierrors.IsNotFound(err), fmt.Sprintf("the copy of an unselected Secret: %v", err)
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			_, err := secrets.Get(ctx, "receipt", metav1.GetOptions{})
			return apierrors.IsForbidden(err), fmt.Sprintf("reading an unselected Secret: want 403, got %v", err)
		}, framework.WaitTimeout)
	})

	t.Run("a ConfigMap a claim selects by label goes to the provider, and its copy is read by name", func(t *testing.T) {
		prefs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "shared-prefs", Labels: map[string]string{"shop.example.com/share": "true"}},
			Data: map[string]string{"k": "v1"}}
		require.NoError(t, a.client.Create(ctx, prefs))
		require.NoError(t, a.client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "local-prefs"}, Data: map[string]string{"k": "local"}}))
		copied := func(want string) {
			t.Helper()
			framework.Eventually(t, func() (bool, string) {
				got := &corev1.ConfigMap{}
				err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "shared-prefs"}, got)
				return err == nil && got.DeletionTimestamp == nil && got.Data["k"] == want, fmt.Sprint(err, got.Data)
			}, framework.WaitTimeout)
		}
		copied("v1")
		err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "local-prefs"}, &corev1.ConfigMap{})
		assert.True(t, apierrors.IsNotFound(err), "an unselected ConfigMap stays home: %v", err)

		configmaps := a.providerClientOf(t, name).Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(svc)
		framework.Eventually(t, func() (bool, string) {
			_, err := configmaps.Get(ctx, "shared-prefs", metav1.GetOptions{})
			return err == nil, fmt.Sprintf("reading its copy: %v", err)
		}, framework.WaitTimeout)
		_, err = configmaps.Get(ctx, "internal", metav1.GetOptions{})
		assert.True(t, apierrors.IsForbidden(err), "the provider's own ConfigMap: want 403, got %v", err)

		// The konnector watches its copy by name: a copy deleted on the
		// provider comes back, and a change follows.
		require.NoError(t, pc.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: "shared-prefs"}}))
		copied("v1")
		require.NoError(t, a.client.Get(ctx, client.ObjectKeyFromObject(prefs), prefs))
		prefs.Data["k"] = "v2"
		require.NoError(t, a.client.Update(ctx, prefs))
		copied("v2")

		// Unlabelled, it is no longer claimed: its copy goes.
		prefs.Labels = nil
		require.NoError(t, a.client.Update(ctx, prefs))
		framework.Eventually(t, func() (bool, string) {
			err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "shared-prefs"}, &corev1.ConfigMap{})
			return apierrors.IsNotFound(err), fmt.Sprintf("the copy of an unselected ConfigMap: %v", err)
		}, framework.WaitTimeout)

		// A name the provider already uses: its ConfigMap is left alone
		// (the konnector cannot read it, and may not write it).
		shared := func(name string) *corev1.ConfigMap {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"shop.example.com/share": "true"}},
				Data: map[string]string{"k": "mine"}}
		}
		require.NoError(t, a.client.Create(ctx, shared("internal")))
		require.NoError(t, a.client.Create(ctx, shared("shared-later")))
		framework.Eventually(t, func() (bool, string) {
			err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "shared-later"}, &corev1.ConfigMap{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		theirs := &corev1.ConfigMap{}
		require.NoError(t, pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "internal"}, theirs))
		assert.Equal(t, "internal", theirs.Data["k"], "the provider's ConfigMap is untouched")
		assert.NotContains(t, theirs.Labels, "bindery.dev/claimed-by")
	})

	t.Run("a Secret a cart references goes to the provider, granted by name once referenced", func(t *testing.T) {
		for _, n := range []string{"payment-key", "unreferenced"} {
			require.NoError(t, a.client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n}, StringData: map[string]string{"k": n}}))
		}
		cart, err := a.dyn.Resource(carts).Namespace("default").Get(ctx, "mine", metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, unstructured.SetNestedField(cart.Object, "payment-key", "spec", "paymentRef", "name"))
		_, err = a.dyn.Resource(carts).Namespace("default").Update(ctx, cart, metav1.UpdateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			got := &corev1.Secret{}
			err := pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "payment-key"}, got)
			return err == nil && string(got.Data["k"]) == "payment-key", fmt.Sprint(err)
		}, framework.WaitTimeout)
		err = pc.Get(ctx, client.ObjectKey{Namespace: svc, Name: "unreferenced"}, &corev1.Secret{})
		assert.True(t, apierrors.IsNotFound(err), "an unreferenced Secret stays home: %v", err)

		secrets := a.providerClientOf(t, name).Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(svc)
		_, err = secrets.Get(ctx, "payment-key", metav1.GetOptions{})
		require.NoError(t, err, "the referenced Secret's copy")
	})

	t.Run("the consumer's credentials reach only the claimed names", func(t *testing.T) {
		creds := a.providerClientOf(t, name)
		cm := corev1.SchemeGroupVersion.WithResource("configmaps")
		secrets := corev1.SchemeGroupVersion.WithResource("secrets")
		_, err := creds.Resource(cm).Namespace(svc).Get(ctx, "price-list", metav1.GetOptions{})
		require.NoError(t, err, "the claimed ConfigMap")
		for what, err := range map[string]error{
			"get an unclaimed ConfigMap": func() error {
				_, err := creds.Resource(cm).Namespace(svc).Get(ctx, "internal", metav1.GetOptions{})
				return err
			}(),
			"list ConfigMaps": func() error { _, err := creds.Resource(cm).Namespace(svc).List(ctx, metav1.ListOptions{}); return err }(),
			"list Secrets": func() error {
				_, err := creds.Resource(secrets).Namespace(svc).List(ctx, metav1.ListOptions{})
				return err
			}(),
			"watch an unclaimed Secret": func() error {
				_, err := creds.Resource(secrets).Namespace(svc).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "private").String()})
				return err
			}(),
		} {
			assert.True(t, apierrors.IsForbidden(err), "%s: want 403, got %v", what, err)
		}
		squat := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": "not-claimed", "labels": map[string]any{"bindery.dev/claimed-by": name}}}}
		// API servers load a new admission policy within about a second.
		framework.Eventually(t, func() (bool, string) {
			_, err := creds.Resource(secrets).Namespace(svc).Create(ctx, squat, metav1.CreateOptions{})
			if err == nil {
				_ = pc.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: "not-claimed"}})
			}
			return apierrors.IsForbidden(err), fmt.Sprintf("creating a Secret no claim names: %v", err)
		}, framework.WaitTimeout)
	})
}
