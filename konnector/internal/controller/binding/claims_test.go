package binding_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestPermissionClaims covers the related objects that travel with bound
// objects: connection Secrets come back to the consumer, settings go to
// the provider, and nothing the konnector did not make is overwritten.
func TestPermissionClaims(t *testing.T) {
	t.Parallel()
	claims := []binderyv1alpha1.PermissionClaim{
		{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.writeConnectionSecretToRef.name"}}},
		{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
			Selector: binderyv1alpha1.ClaimSelector{Names: []string{"db-settings"}}},
	}
	raw, err := json.Marshal(claims)
	require.NoError(t, err)
	e := newEnv(t, func(x *kubebindv1alpha1.APIServiceExport) {
		x.Annotations = map[string]string{
			binderyv1alpha1.PermissionClaimsAnnotation:   string(raw),
			binderyv1alpha1.ConsumerNamespacesAnnotation: "default,shop",
		}
	})
	ctx := t.Context()
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")

	t.Run("claims the user did not accept are reported, not copied", func(t *testing.T) {
		msg := waitCondition(t, e.cc, e.binding.Name, "ClaimsAccepted", corev1.ConditionFalse, binding.ReasonClaimsNotAccepted)
		assert.Contains(t, msg, "secrets referenced by .spec.writeConnectionSecretToRef.name, from the provider to your cluster")
		assert.Contains(t, msg, "kubectl bind accept-claims "+e.binding.Name)
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	})
	accept(t, e, claims)
	pns := clusterNS + "-default"
	db := func(name, secret string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"namespace": "default", "name": name},
			"spec":     map[string]any{"writeConnectionSecretToRef": map[string]any{"name": secret}},
		}}
	}
	_, err = e.consumerDyn.Resource(databases).Namespace("default").Create(ctx, db("orders", "orders-conn"), metav1.CreateOptions{})
	require.NoError(t, err)
	framework.Eventually(t, func() (bool, string) {
		_, err := e.providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	t.Run("a referenced connection Secret comes back to the consumer and follows changes", func(t *testing.T) {
		// What a Crossplane composition would write next to the claim.
		conn := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: "orders-conn", Labels: map[string]string{"app": "db"}},
			Data: map[string][]byte{"password": []byte("s3cret")}}
		require.NoError(t, e.pc.Create(ctx, conn))
		unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: "provider-internal"}, Data: map[string][]byte{"k": []byte("v")}}
		require.NoError(t, e.pc.Create(ctx, unrelated))
		got := &corev1.Secret{}
		framework.Eventually(t, func() (bool, string) {
			err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, got)
			return err == nil && string(got.Data["password"]) == "s3cret", fmt.Sprint(err)
		}, framework.WaitTimeout)
		assert.Equal(t, "db", got.Labels["app"])
		assert.Equal(t, e.binding.Name, got.Labels[objectsync.ClaimLabel])
		assert.Equal(t, pns+"/orders-conn/"+string(conn.UID), got.Annotations[objectsync.OriginAnnotation])

		conn.Data["password"] = []byte("rotated")
		require.NoError(t, e.pc.Update(ctx, conn))
		framework.Eventually(t, func() (bool, string) {
			err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, got)
			return err == nil && string(got.Data["password"]) == "rotated", fmt.Sprint(err, string(got.Data["password"]))
		}, framework.WaitTimeout)
		err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "provider-internal"}, &corev1.Secret{})
		assert.True(t, apierrors.IsNotFound(err), "an unclaimed provider Secret stays there: %v", err)
	})

	t.Run("a copy deleted in the consumer is copied again", func(t *testing.T) {
		require.NoError(t, e.cc.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "orders-conn"}}))
		framework.Eventually(t, func() (bool, string) {
			s := &corev1.Secret{}
			err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, s)
			return err == nil && s.DeletionTimestamp == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
	})

	t.Run("a name clash leaves the consumer's own Secret untouched and says so", func(t *testing.T) {
		mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "taken"}, Data: map[string][]byte{"mine": []byte("yes")}}
		require.NoError(t, e.cc.Create(ctx, mine))
		require.NoError(t, e.pc.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: "taken"}, Data: map[string][]byte{"theirs": []byte("yes")}}))
		_, err := e.consumerDyn.Resource(databases).Namespace("default").Create(ctx, db("clash", "taken"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitEvent(t, e.cc, "default", "clash", "ClaimConflict")
		got := &corev1.Secret{}
		require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "taken"}, got))
		assert.Equal(t, map[string][]byte{"mine": []byte("yes")}, got.Data)
		assert.NotContains(t, got.Labels, objectsync.ClaimLabel)
	})

	t.Run("a service-account token Secret is never copied, and says so", func(t *testing.T) {
		// A provider's legacy token Secret: copied, the consumer's token
		// controller would fill in a token of a consumer ServiceAccount.
		tok := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: "a-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type: corev1.SecretTypeServiceAccountToken}
		require.NoError(t, e.pc.Create(ctx, tok))
		_, err := e.consumerDyn.Resource(databases).Namespace("default").Create(ctx, db("tokened", "a-token"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitEvent(t, e.cc, "default", "tokened", "ClaimRefused")
		err = e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "a-token"}, &corev1.Secret{})
		assert.True(t, apierrors.IsNotFound(err), "no copy: %v", err)
	})

	t.Run("a named ConfigMap goes to the provider", func(t *testing.T) {
		require.NoError(t, e.cc.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-settings"}, Data: map[string]string{"max_connections": "100"}}))
		require.NoError(t, e.cc.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "other"}, Data: map[string]string{"x": "y"}}))
		got := &corev1.ConfigMap{}
		framework.Eventually(t, func() (bool, string) {
			err := e.pc.Get(ctx, client.ObjectKey{Namespace: pns, Name: "db-settings"}, got)
			return err == nil && got.Data["max_connections"] == "100", fmt.Sprint(err)
		}, framework.WaitTimeout)
		err := e.pc.Get(ctx, client.ObjectKey{Namespace: pns, Name: "other"}, &corev1.ConfigMap{})
		assert.True(t, apierrors.IsNotFound(err), "an unclaimed ConfigMap stays home: %v", err)
	})

	t.Run("an object in a namespace the provider does not serve stays local, with a warning", func(t *testing.T) {
		require.NoError(t, e.cc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}))
		o := db("stray", "x")
		o.SetNamespace("elsewhere")
		_, err := e.consumerDyn.Resource(databases).Namespace("elsewhere").Create(ctx, o, metav1.CreateOptions{})
		require.NoError(t, err)
		waitEvent(t, e.cc, "elsewhere", "stray", "NamespaceNotBound")
		asns := &kubebindv1alpha1.APIServiceNamespaceList{}
		require.NoError(t, e.pc.List(ctx, asns, client.InNamespace(clusterNS)))
		for _, a := range asns.Items {
			assert.NotEqual(t, "elsewhere", a.Name, "no provider namespace is asked for")
		}
	})

	t.Run("a claim the provider adds later waits for the user's acceptance", func(t *testing.T) {
		later := binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
			Selector: binderyv1alpha1.ClaimSelector{Names: []string{"later"}}}
		require.NoError(t, e.cc.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "later"}, Data: map[string]string{"k": "v"}}))
		widened := append(append([]binderyv1alpha1.PermissionClaim(nil), claims...), later)
		setExportClaims(t, e, widened)
		msg := waitCondition(t, e.cc, e.binding.Name, "ClaimsAccepted", corev1.ConditionFalse, binding.ReasonClaimsNotAccepted)
		assert.Contains(t, msg, "configmaps named later, from your cluster to the provider")
		assert.NotContains(t, msg, "secrets", "claims accepted before stay accepted")
		// The reconcile that reported the claim chose the claims the
		// engine runs with, without it.
		err := e.pc.Get(ctx, client.ObjectKey{Namespace: pns, Name: "later"}, &corev1.ConfigMap{})
		assert.True(t, apierrors.IsNotFound(err), "an unaccepted claim copies nothing: %v", err)

		accept(t, e, widened)
		framework.Eventually(t, func() (bool, string) {
			err := e.pc.Get(ctx, client.ObjectKey{Namespace: pns, Name: "later"}, &corev1.ConfigMap{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
	})

	t.Run("a claim by label copies what the backend lists as selected", func(t *testing.T) {
		byLabel := binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "public"}}}}
		for name, tier := range map[string]string{"public-a": "public", "public-b": "public", "hidden": "internal"} {
			require.NoError(t, e.pc.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: name, Labels: map[string]string{"tier": tier}},
				Data: map[string]string{"k": name}}))
		}
		copied := func(name string) (bool, string) {
			got := &corev1.ConfigMap{}
			err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, got)
			return err == nil && got.DeletionTimestamp == nil, fmt.Sprintf("%s: %v", name, err)
		}
		gone := func(name string) (bool, string) {
			ok, msg := copied(name)
			return !ok, msg
		}
		widened := append(append([]binderyv1alpha1.PermissionClaim(nil), claims...), byLabel)
		setExportClaims(t, e, widened)
		accept(t, e, widened)
		// An older backend lists nothing: the claim reads the kind, and
		// copies what its selector matches.
		for _, n := range []string{"public-a", "public-b"} {
			framework.Eventually(t, func() (bool, string) { return copied(n) }, framework.WaitTimeout)
		}
		ok, _ := copied("hidden")
		assert.False(t, ok, "a ConfigMap the selector does not match stays on the provider")

		// A backend that grants by name lists what it granted: the
		// konnector watches those names only.
		setSelected := func(value string) {
			require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
				asn := &kubebindv1alpha1.APIServiceNamespace{}
				if err := e.pc.Get(ctx, client.ObjectKey{Namespace: clusterNS, Name: "default"}, asn); err != nil {
					return err
				}
				metav1.SetMetaDataAnnotation(&asn.ObjectMeta, contract.SelectedNamesAnnotation, value)
				return e.pc.Update(ctx, asn)
			}))
		}
		setSelected("configmaps/public-a,secrets/orders-conn")
		framework.Eventually(t, func() (bool, string) { return gone("public-b") }, framework.WaitTimeout)
		ok, msg := copied("public-a")
		assert.True(t, ok, "still selected: %s", msg)

		setSelected("configmaps/public-a,configmaps/public-b,configmaps/hidden")
		framework.Eventually(t, func() (bool, string) { return copied("public-b") }, framework.WaitTimeout)
		ok, _ = copied("hidden")
		assert.False(t, ok, "listed, but the selector does not match it")

		a := &corev1.ConfigMap{}
		require.NoError(t, e.pc.Get(ctx, client.ObjectKey{Namespace: pns, Name: "public-a"}, a))
		a.Data["k"] = "changed"
		require.NoError(t, e.pc.Update(ctx, a))
		framework.Eventually(t, func() (bool, string) {
			got := &corev1.ConfigMap{}
			err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "public-a"}, got)
			return err == nil && got.Data["k"] == "changed", fmt.Sprint(err, got.Data)
		}, framework.WaitTimeout)

		setSelected("")
		for _, n := range []string{"public-a", "public-b"} {
			framework.Eventually(t, func() (bool, string) { return gone(n) }, framework.WaitTimeout)
		}
	})

	t.Run("a broken export turns Ready false, and back", func(t *testing.T) {
		setClaimsAnnotation := func(value string) (was string) {
			require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
				x := &kubebindv1alpha1.APIServiceExport{}
				if err := e.pc.Get(ctx, client.ObjectKey{Namespace: clusterNS, Name: e.binding.Name}, x); err != nil {
					return err
				}
				was = x.Annotations[binderyv1alpha1.PermissionClaimsAnnotation]
				x.Annotations[binderyv1alpha1.PermissionClaimsAnnotation] = value
				return e.pc.Update(ctx, x)
			}))
			return was
		}
		good := setClaimsAnnotation("{not a list")
		msg := waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionFalse, binding.ReasonInvalidExport)
		assert.Contains(t, msg, "is not a list of permission claims")
		waitCondition(t, e.cc, e.binding.Name, "Syncing", corev1.ConditionFalse, binding.ReasonInvalidExport)
		setClaimsAnnotation(good)
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	})

	t.Run("deleting the bound object removes its connection Secret", func(t *testing.T) {
		require.NoError(t, e.consumerDyn.Resource(databases).Namespace("default").Delete(ctx, "orders", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			err := e.cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, &corev1.Secret{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
	})
}

// waitEvent waits for an event with reason on the named object, and
// returns it.
func waitEvent(t *testing.T, c client.Client, ns, name, reason string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	framework.Eventually(t, func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := c.List(t.Context(), list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, ev := range list.Items {
			if ev.Regarding.Name == name && ev.Reason == reason {
				found = ev
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s event on %s/%s", reason, ns, name)
	}, framework.WaitTimeout)
	return found
}

// accept records claims as accepted on the binding, as kubectl bind does,
// and waits until the konnector runs with them.
func accept(t *testing.T, e *env, claims []binderyv1alpha1.PermissionClaim) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		b := &kubebindv1alpha1.APIServiceBinding{}
		if err := e.cc.Get(t.Context(), client.ObjectKey{Name: e.binding.Name}, b); err != nil {
			return err
		}
		if b.Annotations == nil {
			b.Annotations = map[string]string{}
		}
		if err := (contract.BindingSettings{AcceptedClaims: claims}).WriteBinding(b.Annotations); err != nil {
			return err
		}
		return e.cc.Update(t.Context(), b)
	}))
	waitCondition(t, e.cc, e.binding.Name, "ClaimsAccepted", corev1.ConditionTrue, "")
}

// setExportClaims changes the claims of the binding's export, as the
// provider does when a template changes.
func setExportClaims(t *testing.T, e *env, claims []binderyv1alpha1.PermissionClaim) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		x := &kubebindv1alpha1.APIServiceExport{}
		if err := e.pc.Get(t.Context(), client.ObjectKey{Namespace: clusterNS, Name: e.binding.Name}, x); err != nil {
			return err
		}
		settings, _ := contract.ReadExport(x.Annotations)
		settings.Claims = claims
		return errors.Join(settings.WriteExport(x.Annotations), e.pc.Update(t.Context(), x))
	}))
}
