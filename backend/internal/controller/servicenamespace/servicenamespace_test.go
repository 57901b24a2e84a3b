package servicenamespace_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportrequest"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportupdate"
	"github.com/bindery-dev/bindery/backend/internal/controller/servicenamespace"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func database(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("db.example.com/v1")
	u.SetKind("Database")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestServiceNamespacesIsolateConsumers(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	runControllers(t, p, "secrets", "configmaps")
	ctx := t.Context()
	c := p.Client
	p.OfferDatabases(t,
		binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.writeConnectionSecretToRef.name"}}},
		binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
			Selector: binderyv1alpha1.ClaimSelector{Names: []string{"settings"}}},
		binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Names: []string{"endpoint"}}},
		binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.sharedRef.name", NamespacePath: "spec.sharedRef.namespace"}}},
	)

	resA, err := onboarding.Ensure(t.Context(), p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "cluster-a"}, "Test Provider")
	require.NoError(t, err)
	nsA, clientA := resA.Namespace, p.TokenClient(t, resA.Namespace, resA.ServiceAccount)
	resB, err := onboarding.Ensure(t.Context(), p.Client, providername.Consumer{Issuer: "https://idp", Subject: "bob", ClusterID: "cluster-b"}, "Test Provider")
	require.NoError(t, err)
	nsB, clientB := resB.Namespace, p.TokenClient(t, resB.Namespace, resB.ServiceAccount)

	// Each konnector asks for the export and for its "default" namespace,
	// with its own credentials, as a real one does.
	serviceNS := map[string]string{}
	for ns, cl := range map[string]client.Client{nsA: clientA, nsB: clientB} {
		requestDatabases(t, cl, ns)
		sns := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
		require.NoError(t, cl.Create(ctx, sns))
		framework.Eventually(t, func() (bool, string) {
			if err := cl.Get(ctx, client.ObjectKeyFromObject(sns), sns); err != nil {
				return false, err.Error()
			}
			return sns.Status.Namespace != "", "status.namespace not set"
		}, framework.WaitTimeout)
		serviceNS[ns] = sns.Status.Namespace
		assert.Equal(t, providername.ServiceNamespace(ns, "default"), sns.Status.Namespace)
	}
	svcA, svcB := serviceNS[nsA], serviceNS[nsB]
	require.NotEqual(t, svcA, svcB)

	ns := &corev1.Namespace{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: svcA}, ns))
	assert.Equal(t, "alice", ns.Annotations[consumer.SubjectAnnotation], "the namespace names its consumer")
	assert.Equal(t, "default", ns.Annotations[consumer.ConsumerNamespaceAnnotation])
	quota := &corev1.ResourceQuota{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: svcA, Name: consumer.QuotaName}, quota), "the service namespace has a quota")
	assert.Equal(t, onboarding.ServiceQuota, quota.Spec.Hard)

	t.Run("a consumer uses the exported resource in its own namespace", func(t *testing.T) {
		framework.Eventually(t, func() (bool, string) {
			err := clientA.Create(ctx, database(svcA, "mine"))
			return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		require.NoError(t, clientA.Get(ctx, client.ObjectKeyFromObject(database(svcA, "mine")), database(svcA, "mine")))
	})

	t.Run("a consumer gets 403 on another consumer's namespaces and objects", func(t *testing.T) {
		require.NoError(t, c.Create(ctx, database(svcB, "bobs")))
		cases := map[string]error{
			"get":                            clientA.Get(ctx, client.ObjectKeyFromObject(database(svcB, "bobs")), database(svcB, "bobs")),
			"list":                           clientA.List(ctx, listOf(), client.InNamespace(svcB)),
			"create":                         clientA.Create(ctx, database(svcB, "intruder")),
			"delete":                         clientA.Delete(ctx, database(svcB, "bobs")),
			"list cluster-wide":              clientA.List(ctx, listOf()),
			"read B's exports":               clientA.List(ctx, &kubebindv1alpha1.APIServiceExportList{}, client.InNamespace(nsB)),
			"create B's APIServiceNamespace": clientA.Create(ctx, &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "evil"}}),
			"get B's namespace":              clientA.Get(ctx, client.ObjectKey{Name: svcB}, &corev1.Namespace{}),
			"read secrets in B's namespace":  clientA.List(ctx, &corev1.SecretList{}, client.InNamespace(svcB)),
		}
		for what, err := range cases {
			assert.True(t, apierrors.IsForbidden(err), "%s: want 403, got %v", what, err)
		}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(database(svcB, "bobs")), database(svcB, "bobs")), "B's object is untouched")

		for _, ra := range []authorizationv1.ResourceAttributes{
			{Namespace: svcB, Verb: "get", Group: "db.example.com", Resource: "databases"},
			{Namespace: svcB, Verb: "list", Group: "db.example.com", Resource: "databases"},
			{Namespace: svcB, Verb: "update", Group: "db.example.com", Resource: "databases", Subresource: "status"},
			{Namespace: nsB, Verb: "list", Group: "kube-bind.io", Resource: "apiserviceexports"},
			{Namespace: svcB, Verb: "get", Resource: "secrets"},
			{Verb: "list", Group: "db.example.com", Resource: "databases"},
			// get by name and watch of B's Secrets, objects and ClusterBinding
			{Namespace: svcB, Verb: "get", Resource: "secrets", Name: "bobs-conn"},
			{Namespace: svcB, Verb: "watch", Resource: "secrets"},
			{Namespace: nsB, Verb: "get", Resource: "secrets", Name: consumer.KubeconfigSecretName},
			{Namespace: svcB, Verb: "get", Group: "db.example.com", Resource: "databases", Name: "bobs"},
			{Namespace: svcB, Verb: "watch", Group: "db.example.com", Resource: "databases"},
			{Namespace: nsB, Verb: "get", Group: "kube-bind.io", Resource: "clusterbindings", Name: consumer.ClusterBindingName},
			{Namespace: nsB, Verb: "watch", Group: "kube-bind.io", Resource: "clusterbindings"},
			// update and patch of B's objects
			{Namespace: svcB, Verb: "update", Group: "db.example.com", Resource: "databases", Name: "bobs"},
			{Namespace: svcB, Verb: "patch", Group: "db.example.com", Resource: "databases", Name: "bobs"},
			// B's export requests
			{Namespace: nsB, Verb: "get", Group: "kube-bind.io", Resource: "apiserviceexportrequests"},
			{Namespace: nsB, Verb: "list", Group: "kube-bind.io", Resource: "apiserviceexportrequests"},
			{Namespace: nsB, Verb: "create", Group: "kube-bind.io", Resource: "apiserviceexportrequests"},
			// RBAC of its own, anywhere
			{Namespace: nsA, Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles"},
			{Namespace: svcA, Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
			{Namespace: nsA, Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "rolebindings"},
			{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
			{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
			// tokens, its own or others'
			{Namespace: nsA, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: consumer.ServiceAccountName},
			{Namespace: nsB, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: consumer.ServiceAccountName},
			{Namespace: svcA, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: "default"},
			// impersonation
			{Verb: "impersonate", Resource: "users"},
			{Verb: "impersonate", Resource: "groups"},
			{Namespace: nsB, Verb: "impersonate", Resource: "serviceaccounts", Name: consumer.ServiceAccountName},
			// namespaces
			{Verb: "create", Resource: "namespaces"},
			{Verb: "delete", Resource: "namespaces", Name: svcB},
			{Verb: "delete", Resource: "namespaces", Name: svcA},
			{Verb: "delete", Resource: "namespaces", Name: nsA},
		} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + nsA + ":" + consumer.ServiceAccountName,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + nsA, "system:authenticated"},
				ResourceAttributes: &ra,
			}}
			require.NoError(t, c.Create(ctx, sar))
			assert.False(t, sar.Status.Allowed, "consumer A must not be allowed %+v", ra)
		}
	})

	t.Run("a claim by reference grants what the consumer's objects reference, by name", func(t *testing.T) {
		allowed := func(name string) bool {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + nsA + ":" + consumer.ServiceAccountName,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: svcA, Verb: "get", Resource: "secrets", Name: name},
			}}
			require.NoError(t, c.Create(ctx, sar))
			return sar.Status.Allowed
		}
		sns := &kubebindv1alpha1.APIServiceNamespace{}
		selected := func(want string) {
			t.Helper()
			framework.Eventually(t, func() (bool, string) {
				require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: "default"}, sns))
				got := sns.Annotations[contract.SelectedNamesAnnotation]
				return got == want, fmt.Sprintf("selected %q, want %q", got, want)
			}, framework.WaitTimeout)
		}
		assert.False(t, allowed("mine-conn"), "before any object references it")
		withRef := database(svcA, "with-ref")
		require.NoError(t, unstructured.SetNestedField(withRef.Object, "mine-conn", "spec", "writeConnectionSecretToRef", "name"))
		require.NoError(t, c.Create(ctx, withRef))
		selected("secrets/mine-conn")
		assert.True(t, allowed("mine-conn"), "the referenced Secret")
		assert.False(t, allowed(""), "the kind")
		assert.False(t, allowed("other"), "a Secret nothing references")

		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(withRef), withRef))
		require.NoError(t, unstructured.SetNestedField(withRef.Object, "renamed-conn", "spec", "writeConnectionSecretToRef", "name"))
		require.NoError(t, c.Update(ctx, withRef))
		selected("secrets/renamed-conn")
		assert.True(t, allowed("renamed-conn"), "a reference follows its object")
		assert.False(t, allowed("mine-conn"), "no longer referenced")
	})

	t.Run("nobody creates service-account token Secrets in consumer namespaces", func(t *testing.T) {
		token := func(ns string) *corev1.Secret {
			return &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "steal-a-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
				Type:       corev1.SecretTypeServiceAccountToken,
			}
		}
		// The policy is in place before the consumer can write Secrets
		// there; API servers load it within about a second.
		framework.Eventually(t, func() (bool, string) {
			err := c.Create(ctx, token(svcA))
			if err == nil {
				_ = c.Delete(ctx, token(svcA))
			}
			return apierrors.IsForbidden(err) || apierrors.IsInvalid(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		err := c.Create(ctx, token(svcA))
		require.Error(t, err, "not even an admin")
		assert.Contains(t, err.Error(), "service-account token Secrets cannot be created")
		require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: svcA, Name: "plain"}}), "other Secrets can")
	})

	t.Run("a konnector writes only its own claim copies, never the provider's objects", func(t *testing.T) {
		providers := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svcA, Name: "provider-owned"}, Data: map[string]string{"k": "v"}}
		require.NoError(t, c.Create(ctx, providers), "the provider's own, unlabelled")
		unlabelled := func() *corev1.ConfigMap {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svcA, Name: "unlabelled"}}
		}
		// API servers load a new policy within about a second.
		framework.Eventually(t, func() (bool, string) {
			err := clientA.Create(ctx, unlabelled())
			if err == nil {
				_ = c.Delete(ctx, unlabelled())
			}
			return apierrors.IsForbidden(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		err := clientA.Create(ctx, unlabelled())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "may only write the Secrets and ConfigMaps it copied for a permission claim")

		copied := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svcA, Name: "settings",
			Labels: map[string]string{binderyv1alpha1.ClaimedByLabel: "databases.db.example.com"}}, Data: map[string]string{"a": "1"}}
		require.NoError(t, clientA.Create(ctx, copied), "its own copy")
		copied.Data["a"] = "2"
		require.NoError(t, clientA.Update(ctx, copied), "its own copy")

		theirs := providers.DeepCopy()
		theirs.Data["k"] = "changed"
		assert.True(t, apierrors.IsForbidden(clientA.Update(ctx, theirs)), "changing the provider's ConfigMap")
		theirs.Labels = map[string]string{binderyv1alpha1.ClaimedByLabel: "databases.db.example.com"}
		assert.True(t, apierrors.IsForbidden(clientA.Update(ctx, theirs)), "taking the provider's ConfigMap over with the label")
		assert.True(t, apierrors.IsForbidden(clientA.Delete(ctx, providers)), "deleting the provider's ConfigMap")
		require.NoError(t, clientA.Delete(ctx, copied), "its own copy")
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(providers), providers))
		assert.Equal(t, "v", providers.Data["k"], "the provider's ConfigMap is untouched")
	})

	t.Run("a claim that names its objects grants those names only", func(t *testing.T) {
		ns := &corev1.Namespace{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: svcA}, ns))
		assert.Equal(t, "configmaps/settings", ns.Annotations[rbacgrant.ClaimableNamesAnnotation], "what the konnector may create here")
		for _, name := range []string{"endpoint", "internal"} {
			require.NoError(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svcA, Name: name}, Data: map[string]string{"k": name}}))
		}
		got := &corev1.ConfigMap{}
		require.NoError(t, clientA.Get(ctx, client.ObjectKey{Namespace: svcA, Name: "endpoint"}, got), "the claimed ConfigMap")
		byName := &corev1.ConfigMapList{}
		require.NoError(t, clientA.List(ctx, byName, client.InNamespace(svcA), client.MatchingFields{"metadata.name": "endpoint"}), "watched by name")
		require.Len(t, byName.Items, 1)
		assert.True(t, apierrors.IsForbidden(clientA.Get(ctx, client.ObjectKey{Namespace: svcA, Name: "internal"}, got)), "an unclaimed ConfigMap")
		assert.True(t, apierrors.IsForbidden(clientA.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(svcA))), "listing the kind")
		assert.True(t, apierrors.IsForbidden(clientA.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(svcA), client.MatchingFields{"metadata.name": "internal"})), "an unclaimed name")

		other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svcA, Name: "squatted",
			Labels: map[string]string{binderyv1alpha1.ClaimedByLabel: "databases.db.example.com"}}}
		err := clientA.Create(ctx, other)
		require.True(t, apierrors.IsForbidden(err), "creating a name no claim names: %v", err)
		assert.Contains(t, err.Error(), "a konnector may only create the configmaps its permission claims name; squatted is not one of them")
	})

	t.Run("no grant uses wildcards", func(t *testing.T) {
		roles := &rbacv1.RoleList{}
		require.NoError(t, c.List(ctx, roles))
		for _, r := range roles.Items {
			if r.Name == rbacgrant.KonnectorRoleName {
				assert.False(t, rbacgrant.HasWildcard(r.Rules), "Role %s/%s", r.Namespace, r.Name)
			}
		}
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(nsA)}, cr))
		assert.False(t, rbacgrant.HasWildcard(cr.Rules))
		assert.ElementsMatch(t, []string{nsA, svcA}, cr.Rules[0].ResourceNames)
	})

	t.Run("binding again keeps the service namespaces readable", func(t *testing.T) {
		_, err := onboarding.Ensure(ctx, c, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "cluster-a"}, "Test Provider")
		require.NoError(t, err)
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(nsA)}, cr))
		assert.ElementsMatch(t, []string{nsA, svcA}, cr.Rules[0].ResourceNames)
	})

	// Upstream's example-backend deletes and recreates its
	// ClusterRoleBinding on alternate reconciles, so a konnector loses
	// access now and then. Here grants are updated in place.
	t.Run("grants are never deleted and recreated by reconciles", func(t *testing.T) {
		uids := map[string]types.UID{}
		rbs := &rbacv1.RoleBindingList{}
		require.NoError(t, c.List(ctx, rbs))
		for _, rb := range rbs.Items {
			uids["rb/"+rb.Namespace+"/"+rb.Name] = rb.UID
		}
		crbs := &rbacv1.ClusterRoleBindingList{}
		require.NoError(t, c.List(ctx, crbs))
		for _, crb := range crbs.Items {
			uids["crb/"+crb.Name] = crb.UID
		}
		rbWatch, err := p.Kube.RbacV1().RoleBindings("").Watch(ctx, metav1.ListOptions{ResourceVersion: rbs.ResourceVersion})
		require.NoError(t, err)
		defer rbWatch.Stop()
		crbWatch, err := p.Kube.RbacV1().ClusterRoleBindings().Watch(ctx, metav1.ListOptions{ResourceVersion: crbs.ResourceVersion})
		require.NoError(t, err)
		defer crbWatch.Stop()

		for i := range 5 {
			// Bind again, touch the APIServiceNamespace, and add one,
			// each of which reconciles the grants.
			_, err := onboarding.Ensure(ctx, c, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "cluster-a"}, "Test Provider")
			require.NoError(t, err)
			sns := &kubebindv1alpha1.APIServiceNamespace{}
			require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: "default"}, sns))
			sns.Annotations = map[string]string{"touched": fmt.Sprint(i)}
			require.NoError(t, c.Update(ctx, sns))
			extra := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: fmt.Sprintf("extra-%d", i)}}
			require.NoError(t, clientA.Create(ctx, extra))
			want := providername.ServiceNamespace(nsA, extra.Name)
			framework.Eventually(t, func() (bool, string) {
				cr := &rbacv1.ClusterRole{}
				require.NoError(t, c.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(nsA)}, cr))
				return slices.Contains(cr.Rules[0].ResourceNames, want), "grant for " + want + " not there yet"
			}, framework.WaitTimeout)
		}
		// A marker written last shows, when its event arrives, that the
		// watches delivered every event before it.
		rbMarker := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "test-marker"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
		require.NoError(t, c.Create(ctx, rbMarker))
		crbMarker := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "test-marker-" + nsA},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
		require.NoError(t, c.Create(ctx, crbMarker))
		for w, marker := range map[watch.Interface]client.Object{rbWatch: rbMarker, crbWatch: crbMarker} {
			drainUntil(t, w, marker, func(ev watch.Event) {
				obj := ev.Object.(metav1.Object)
				assert.NotEqual(t, watch.Deleted, ev.Type, "%T %s/%s was deleted", ev.Object, obj.GetNamespace(), obj.GetName())
			})
		}
		require.NoError(t, c.List(ctx, rbs))
		for _, rb := range rbs.Items {
			if uid, ok := uids["rb/"+rb.Namespace+"/"+rb.Name]; ok {
				assert.Equal(t, uid, rb.UID, "RoleBinding %s/%s was recreated", rb.Namespace, rb.Name)
			}
		}
		require.NoError(t, c.List(ctx, crbs))
		for _, crb := range crbs.Items {
			if uid, ok := uids["crb/"+crb.Name]; ok {
				assert.Equal(t, uid, crb.UID, "ClusterRoleBinding %s was recreated", crb.Name)
			}
		}
	})

	t.Run("a reference to another namespace is granted there, by name", func(t *testing.T) {
		other := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "shared"}}
		require.NoError(t, clientA.Create(ctx, other))
		svcOther := providername.ServiceNamespace(nsA, "shared")
		pointing := database(svcA, "pointing")
		require.NoError(t, unstructured.SetNestedField(pointing.Object, "shared-cm", "spec", "sharedRef", "name"))
		require.NoError(t, unstructured.SetNestedField(pointing.Object, "shared", "spec", "sharedRef", "namespace"))
		require.NoError(t, c.Create(ctx, pointing))
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(other), other))
			got := other.Annotations[contract.SelectedNamesAnnotation]
			return got == "configmaps/shared-cm", fmt.Sprintf("selected in %s: %q", svcOther, got)
		}, framework.WaitTimeout)
		allowed := func(ns string) bool {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + nsA + ":" + consumer.ServiceAccountName,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "configmaps", Name: "shared-cm"},
			}}
			require.NoError(t, c.Create(ctx, sar))
			return sar.Status.Allowed
		}
		framework.Eventually(t, func() (bool, string) { return allowed(svcOther), "not granted in " + svcOther }, framework.WaitTimeout)
		assert.False(t, allowed(svcA), "the object's own namespace is not where it points")

		// Pointed elsewhere, the reference is granted in the new namespace
		// and revoked in the one it left: an update reconciles both.
		moved := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "moved"}}
		require.NoError(t, clientA.Create(ctx, moved))
		svcMoved := providername.ServiceNamespace(nsA, "moved")
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(moved), moved))
			return moved.Status.Namespace != "", "status.namespace not set"
		}, framework.WaitTimeout)
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(pointing), pointing))
			require.NoError(t, unstructured.SetNestedField(pointing.Object, "moved", "spec", "sharedRef", "namespace"))
			return c.Update(ctx, pointing)
		}))
		selected := func(sns *kubebindv1alpha1.APIServiceNamespace) string {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(sns), sns))
			return sns.Annotations[contract.SelectedNamesAnnotation]
		}
		framework.Eventually(t, func() (bool, string) {
			got, left := selected(moved), selected(other)
			return got == "configmaps/shared-cm" && left == "", fmt.Sprintf("selected in %s: %q, in %s: %q", svcMoved, got, svcOther, left)
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			return allowed(svcMoved) && !allowed(svcOther), "the grant did not follow the reference"
		}, framework.WaitTimeout)
	})

	t.Run("an admission policy changed by hand is put back", func(t *testing.T) {
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: rbacgrant.ClaimCopyPolicyName}, policy))
		policy.Spec.Validations = policy.Spec.Validations[:1]
		require.NoError(t, c.Update(ctx, policy))
		// Any reconcile of a service namespace checks the policies.
		sns := &kubebindv1alpha1.APIServiceNamespace{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: "default"}, sns))
		sns.Annotations = map[string]string{"touched": "yes"}
		require.NoError(t, c.Update(ctx, sns))
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: rbacgrant.ClaimCopyPolicyName}, policy))
			return len(policy.Spec.Validations) == 2, fmt.Sprintf("%d validations", len(policy.Spec.Validations))
		}, framework.WaitTimeout)
		rv := policy.ResourceVersion
		// A new service namespace is assigned only after its reconcile
		// checked the policies.
		next := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "policy-check"}}
		require.NoError(t, clientA.Create(ctx, next))
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(next), next))
			return next.Status.Namespace != "", "not assigned yet"
		}, framework.WaitTimeout)
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: rbacgrant.ClaimCopyPolicyName}, policy))
		assert.Equal(t, rv, policy.ResourceVersion, "a policy that is right is not written again")
	})

	t.Run("deleting the APIServiceNamespace removes the namespace and the grant", func(t *testing.T) {
		sns := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "default"}}
		require.NoError(t, clientA.Delete(ctx, sns))
		framework.Eventually(t, func() (bool, string) {
			err := c.Get(ctx, client.ObjectKeyFromObject(sns), sns)
			return apierrors.IsNotFound(err), "APIServiceNamespace still there"
		}, 2*time.Minute)
		err := c.Get(ctx, client.ObjectKey{Name: svcA}, &corev1.Namespace{})
		assert.True(t, apierrors.IsNotFound(err), "the provider namespace is gone before the finalizer is released: %v", err)
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(nsA)}, cr))
		assert.NotContains(t, cr.Rules[0].ResourceNames, svcA)
	})
}

// runControllers runs the backend's export-request and service-namespace
// controllers on p, the latter following claims of the claimable
// resources.
func runControllers(t *testing.T, p *framework.ControlPlane, claimable ...string) {
	t.Helper()
	runControllersBounded(t, p, 0, claimable...)
}

// runControllersBounded runs the controllers with a bound of maxObjects
// objects per exported resource and service namespace (0: none).
func runControllersBounded(t *testing.T, p *framework.ControlPlane, maxObjects int, claimable ...string) {
	t.Helper()
	p.RunManager(t, func(mgr ctrl.Manager) error {
		rec := mgr.GetEventRecorder("bindery-backend")
		if err := (&exportrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec}).SetupWithManager(mgr); err != nil {
			return err
		}
		cache, err := servicenamespace.NewClaimableCache(mgr)
		if err != nil {
			return err
		}
		return (&servicenamespace.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec,
			Claimable: cache, ClaimableResources: claimable, MaxObjectsPerNamespace: maxObjects}).SetupWithManager(mgr)
	})
}

// TestObjectsPerNamespaceAreBounded: a consumer has at most
// MaxObjectsPerNamespace objects of a namespaced exported resource in each
// service namespace, or its service's own maxObjectsPerNamespace: its
// quota counts them from the first create on, the API server refuses one
// more with a clear error, and a deleted one makes room again.
func TestObjectsPerNamespaceAreBounded(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	runControllersBounded(t, p, 2)
	ctx := t.Context()
	p.OfferDatabases(t)
	res, err := onboarding.Ensure(ctx, p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "cluster-a"}, "Test Provider")
	require.NoError(t, err)
	clientA := p.TokenClient(t, res.Namespace, res.ServiceAccount)
	requestDatabases(t, clientA, res.Namespace)
	sns := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: res.Namespace, Name: "default"}}
	require.NoError(t, clientA.Create(ctx, sns))
	svc := providername.ServiceNamespace(res.Namespace, "default")

	counted := corev1.ResourceName("count/databases.db.example.com")
	framework.Eventually(t, func() (bool, string) {
		q := &corev1.ResourceQuota{}
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: svc, Name: consumer.ObjectsQuotaName}, q); err != nil {
			return false, err.Error()
		}
		hard := q.Spec.Hard[counted]
		_, counting := q.Status.Used[counted]
		return hard.Value() == 2 && counting, fmt.Sprintf("hard %v, used %v", q.Spec.Hard, q.Status.Used)
	}, framework.WaitTimeout)
	q := &corev1.ResourceQuota{}
	require.NoError(t, p.Client.Get(ctx, client.ObjectKey{Namespace: svc, Name: consumer.QuotaName}, q))
	assert.Equal(t, onboarding.ServiceQuota, q.Spec.Hard, "claims stay bounded, in a quota of their own")
	// That quota counts only built-in kinds, which kube-controller-manager
	// counts at once: a ConfigMap the provider writes there is taken.
	framework.Eventually(t, func() (bool, string) {
		err := p.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: "endpoint"}})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	for _, name := range []string{"one", "two"} {
		framework.Eventually(t, func() (bool, string) {
			err := clientA.Create(ctx, database(svc, name))
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
	}
	err = clientA.Create(ctx, database(svc, "three"))
	require.Error(t, err, "a third database is over the bound")
	assert.True(t, apierrors.IsForbidden(err), "refused, not failed: %v", err)
	assert.Contains(t, err.Error(), "exceeded quota")
	assert.Contains(t, err.Error(), "count/databases.db.example.com")

	// Once kube-controller-manager counts databases too, as it does
	// within 30 s of a CRD's creation, a deletion frees its quota.
	p.WaitQuotaCounts(t, "databases.db.example.com")
	require.NoError(t, clientA.Delete(ctx, database(svc, "one")))
	framework.Eventually(t, func() (bool, string) {
		err := clientA.Create(ctx, database(svc, "three"))
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	// A service's own bound wins over the backend's, and a change of it
	// reaches existing consumers (the exportupdate controller).
	p.RunManager(t, func(mgr ctrl.Manager) error {
		return (&exportupdate.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bindery-backend")}).SetupWithManager(mgr)
	})
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
		if err := p.Client.Get(ctx, client.ObjectKey{Name: "postgres"}, tmpl); err != nil {
			return err
		}
		tmpl.Spec.Resources[0].MaxObjectsPerNamespace = ptr.To[int32](3)
		return p.Client.Update(ctx, tmpl)
	}))
	framework.Eventually(t, func() (bool, string) {
		err := clientA.Create(ctx, database(svc, "four"))
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)
	err = clientA.Create(ctx, database(svc, "five"))
	require.Error(t, err, "a fourth database is over the service's bound")
	assert.Contains(t, err.Error(), "limited: count/databases.db.example.com=3")
}

// requestDatabases asks for the databases, as the konnector of cluster
// namespace ns does with its credentials cl.
func requestDatabases(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	require.NoError(t, cl.Create(t.Context(), &kubebindv1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
			{GroupResource: kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}}}},
	}))
}

// drainUntil hands f the events of w up to the one that adds marker.
func drainUntil(t *testing.T, w watch.Interface, marker client.Object, f func(watch.Event)) {
	t.Helper()
	for ev := range w.ResultChan() {
		if obj, ok := ev.Object.(metav1.Object); ok && ev.Type == watch.Added && obj.GetUID() == marker.GetUID() {
			return
		}
		f(ev)
	}
	t.Fatal("watch closed before the marker's event")
}

func listOf() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("db.example.com/v1")
	l.SetKind("DatabaseList")
	return l
}

// A claim by label selector from the provider is granted by name: what
// its selector matches in the service namespace now, following labels as
// they change, and published for the konnector.
func TestClaimByLabelIsGrantedByName(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	runControllers(t, p, "secrets")
	ctx := t.Context()
	c := p.Client
	res, err := onboarding.Ensure(ctx, c, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "cluster-a"}, "Test Provider")
	require.NoError(t, err)
	nsA, clientA := res.Namespace, p.TokenClient(t, res.Namespace, res.ServiceAccount)
	claim := func(resource string) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: resource, Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	}
	p.OfferDatabases(t, claim("secrets"))
	requestDatabases(t, clientA, nsA)
	export := &kubebindv1alpha1.APIServiceExport{}
	framework.Eventually(t, func() (bool, string) {
		err := c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: "databases.db.example.com"}, export)
		return err == nil, fmt.Sprintf("the export: %v", err)
	}, framework.WaitTimeout)
	sns := &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "default"}}
	require.NoError(t, clientA.Create(ctx, sns))
	svc := providername.ServiceNamespace(nsA, "default")
	selected := func(want string) {
		t.Helper()
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(sns), sns))
			got, set := sns.Annotations[contract.SelectedNamesAnnotation]
			return set && got == want, fmt.Sprintf("selected %q (set: %v), want %q", got, set, want)
		}, framework.WaitTimeout)
	}
	readable := func(name string) error {
		return clientA.Get(ctx, client.ObjectKey{Namespace: svc, Name: name}, &corev1.Secret{})
	}
	selected("")
	assert.True(t, apierrors.IsForbidden(clientA.List(ctx, &corev1.SecretList{}, client.InNamespace(svc))), "selecting nothing grants nothing")

	secret := func(name string, l map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: svc, Name: name, Labels: l}}
	}
	require.NoError(t, c.Create(ctx, secret("conn", map[string]string{"app": "db"})))
	require.NoError(t, c.Create(ctx, secret("internal", map[string]string{"app": "operator"})))
	selected("secrets/conn")
	require.NoError(t, readable("conn"), "the selected Secret")
	require.NoError(t, clientA.List(ctx, &corev1.SecretList{}, client.InNamespace(svc), client.MatchingFields{"metadata.name": "conn"}), "watched by name")
	assert.True(t, apierrors.IsForbidden(readable("internal")), "a Secret the selector does not match")
	assert.True(t, apierrors.IsForbidden(clientA.List(ctx, &corev1.SecretList{}, client.InNamespace(svc))), "listing the kind")

	t.Run("a label added grants, a label removed revokes", func(t *testing.T) {
		internal := &corev1.Secret{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: svc, Name: "internal"}, internal))
		internal.Labels["app"] = "db"
		require.NoError(t, c.Update(ctx, internal))
		selected("secrets/conn,secrets/internal")
		require.NoError(t, readable("internal"))

		conn := &corev1.Secret{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: svc, Name: "conn"}, conn))
		conn.Labels = nil
		require.NoError(t, c.Update(ctx, conn))
		selected("secrets/internal")
		framework.Eventually(t, func() (bool, string) {
			err := readable("conn")
			return apierrors.IsForbidden(err), fmt.Sprintf("reading conn: %v", err)
		}, framework.WaitTimeout)
	})

	t.Run("a Secret deleted is no longer granted", func(t *testing.T) {
		require.NoError(t, c.Delete(ctx, secret("internal", nil)))
		selected("")
	})

	t.Run("a kind the backend may not watch is granted nothing, with a reason", func(t *testing.T) {
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(export), export))
		require.NoError(t, contract.ExportSettings{Claims: []binderyv1alpha1.PermissionClaim{claim("secrets"), claim("configmaps")}}.WriteExport(export.Annotations))
		require.NoError(t, c.Update(ctx, export))
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(sns), sns))
		note := p.WaitEvent(t, sns, "ClaimNotGranted")
		assert.Contains(t, note, "selects configmaps by label, which the backend may not list and watch; it is granted nothing. Add configmaps to the backend chart's claimedResources")
		// The rest of the grant goes ahead.
		conn := &corev1.Secret{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: svc, Name: "conn"}, conn))
		conn.Labels = map[string]string{"app": "db"}
		require.NoError(t, c.Update(ctx, conn))
		selected("secrets/conn")
		require.NoError(t, readable("conn"))
	})
}
