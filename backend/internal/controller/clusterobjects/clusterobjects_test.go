package clusterobjects_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterobjects"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportrequest"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func object(kind, name, owner string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("geo.example.com/v1")
	u.SetKind(kind)
	u.SetName(name)
	if owner != "" {
		u.SetLabels(map[string]string{consumer.ClusterNamespaceLabel: owner})
	}
	return u
}

// regionsOffer is a control plane that offers the cluster-scoped regions
// under Prefixed isolation, whose grants the admission policy backs.
type regionsOffer struct {
	p *framework.ControlPlane
}

func offerRegions(t *testing.T) *regionsOffer {
	p := framework.StartControlPlane(t)
	p.CreateCRD(t, "geo.example.com", "regions", "Region", apiextensionsv1.ClusterScoped, nil)
	require.NoError(t, p.Client.Create(t.Context(), &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "regions"},
		Spec: binderyv1alpha1.APIServiceExportTemplateSpec{
			DisplayName: "regions", Resources: []binderyv1alpha1.ExportedResource{{Group: "geo.example.com", Resource: "regions"}},
			ClusterScopedIsolation: binderyv1alpha1.IsolationPrefixed,
		},
	}))
	return &regionsOffer{p: p}
}

// runBackend runs the backend's export and cluster-scoped objects
// controllers until t ends.
func (o *regionsOffer) runBackend(t *testing.T) {
	o.p.RunManager(t, func(mgr ctrl.Manager) error {
		if err := (&exportrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("bindery-backend")}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&clusterobjects.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader()}).SetupWithManager(mgr)
	})
}

// bind requests regions for the consumer of cluster namespace ns and
// waits until the request succeeds.
func (o *regionsOffer) bind(t *testing.T, ns string) {
	o.waitBound(t, o.request(t, ns))
}

// request requests regions for the consumer of cluster namespace ns.
func (o *regionsOffer) request(t *testing.T, ns string) *kubebindv1alpha1.APIServiceExportRequest {
	req := &kubebindv1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "regions", Annotations: map[string]string{consumer.TemplateAnnotation: "regions"}},
		Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
			{GroupResource: kubebindv1alpha1.GroupResource{Group: "geo.example.com", Resource: "regions"}}}},
	}
	require.NoError(t, o.p.Client.Create(t.Context(), req))
	return req
}

// waitBound waits until req succeeds: once its konnector may create
// objects, after the grace a resource offered anew waits for.
func (o *regionsOffer) waitBound(t *testing.T, req *kubebindv1alpha1.APIServiceExportRequest) {
	framework.Eventually(t, func() (bool, string) {
		require.NoError(t, o.p.Client.Get(t.Context(), client.ObjectKeyFromObject(req), req))
		return req.Status.Phase == kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded, string(req.Status.Phase)
	}, framework.WaitTimeout)
}

// grant returns the consumer's grant for its cluster-scoped objects, or
// nil while there is none.
func (o *regionsOffer) grant(t *testing.T, ns string) *rbacv1.ClusterRole {
	role := &rbacv1.ClusterRole{}
	err := o.p.Client.Get(t.Context(), client.ObjectKey{Name: clusterobjects.RoleName(ns)}, role)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return role
}

// creates reports whether a grant lets its konnector create objects.
func creates(role *rbacv1.ClusterRole) bool {
	return role != nil && slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Verbs, "create") })
}

// policyInForce reports whether the admission policy for cluster-scoped
// objects and its binding exist: a policy without its binding checks
// nothing.
func (o *regionsOffer) policyInForce(t *testing.T) bool {
	for _, obj := range []client.Object{&admissionregistrationv1.ValidatingAdmissionPolicy{}, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}} {
		err := o.p.Client.Get(t.Context(), client.ObjectKey{Name: rbacgrant.ClusterObjectPolicyName}, obj)
		if apierrors.IsNotFound(err) {
			return false
		}
		require.NoError(t, err)
	}
	return true
}

// TestARestartedBackendKeepsCreate checks that a backend starting over the
// admission policy an earlier one left grants create at once: the grace a
// resource gets when first offered is not taken again, and a consumer's
// grant keeps create through the restart.
func TestARestartedBackendKeepsCreate(t *testing.T) {
	t.Parallel()
	o := offerRegions(t)
	ctx := t.Context()

	var ns string
	t.Run("the first backend grants create after the grace", func(t *testing.T) {
		o.runBackend(t) // until this subtest ends
		res, err := onboarding.Ensure(ctx, o.p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "a"}, "Test Provider")
		require.NoError(t, err)
		ns = res.Namespace
		o.bind(t, ns)
		require.True(t, creates(o.grant(t, ns)))
	})

	// The second backend rewrites the grant as soon as the consumer's
	// objects change: at once, with create.
	o.runBackend(t)
	obj := object("Region", ns+"-after-restart", ns)
	require.NoError(t, o.p.Client.Create(ctx, obj))
	var role *rbacv1.ClusterRole
	framework.Eventually(t, func() (bool, string) {
		role = o.grant(t, ns)
		return role != nil && slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.ResourceNames, obj.GetName()) }),
			fmt.Sprintf("grant %+v", role)
	}, framework.WaitTimeout)
	assert.True(t, creates(role), "the restarted backend withdrew create: %+v", role.Rules)
}

// TestAResourceOfferedAgainWaitsForThePolicy checks that once no export
// needs the admission policy and it is gone, a resource offered again
// gets create only a grace after the policy is back: a konnector never
// creates an object that API servers do not check yet.
func TestAResourceOfferedAgainWaitsForThePolicy(t *testing.T) {
	t.Parallel()
	o := offerRegions(t)
	ctx := t.Context()
	o.runBackend(t)
	res, err := onboarding.Ensure(ctx, o.p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "a"}, "Test Provider")
	require.NoError(t, err)
	ns := res.Namespace
	o.bind(t, ns)
	require.True(t, creates(o.grant(t, ns)))

	// Unbound: no export needs the policy any more.
	req := &kubebindv1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "regions"}}
	require.NoError(t, o.p.Client.Delete(ctx, req))
	require.NoError(t, o.p.Client.Delete(ctx, &kubebindv1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "regions.geo.example.com"}}))
	framework.Eventually(t, func() (bool, string) {
		reqErr := o.p.Client.Get(ctx, client.ObjectKeyFromObject(req), req)
		inForce, grant := o.policyInForce(t), o.grant(t, ns)
		return apierrors.IsNotFound(reqErr) && !inForce && grant == nil,
			fmt.Sprintf("request: %v; policy in force: %t; grant: %+v", reqErr, inForce, grant)
	}, framework.WaitTimeout)

	// Offered again: the policy comes back first, and create a grace
	// after it.
	req = o.request(t, ns)
	var policyBack, createBack time.Time
	framework.Eventually(t, func() (bool, string) {
		if createBack.IsZero() && creates(o.grant(t, ns)) {
			createBack = time.Now()
		}
		if policyBack.IsZero() && o.policyInForce(t) {
			policyBack = time.Now()
		}
		return !createBack.IsZero() && !policyBack.IsZero(), fmt.Sprintf("policy back at %v, create at %v", policyBack, createBack)
	}, framework.WaitTimeout)
	// Each is seen up to a poll (and a loaded machine's slow reads) after
	// it was written; without the grace, create comes with the policy.
	assert.GreaterOrEqual(t, createBack.Sub(policyBack), clusterobjects.PolicyGrace/2,
		"create came back %s after the policy", createBack.Sub(policyBack))
	o.waitBound(t, req)
}

// TestClusterScopedObjectsIsolateConsumers checks, with each konnector's
// own credentials, that consumers of cluster-scoped resources write only
// objects labelled (and, under Prefixed isolation, named) as theirs, and
// never read or touch another consumer's.
func TestClusterScopedObjectsIsolateConsumers(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	p.RunManager(t, func(mgr ctrl.Manager) error {
		rec := mgr.GetEventRecorder("bindery-backend")
		if err := (&exportrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&clusterobjects.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
			MaxObjectsPerNamespace: 2}).SetupWithManager(mgr)
	})
	ctx := t.Context()
	c := p.Client
	p.CreateCRD(t, "geo.example.com", "regions", "Region", apiextensionsv1.ClusterScoped, nil)
	p.CreateCRD(t, "geo.example.com", "zones", "Zone", apiextensionsv1.ClusterScoped, nil)
	p.CreateCRD(t, "geo.example.com", "sites", "Site", apiextensionsv1.NamespaceScoped, nil)
	for name, iso := range map[string]binderyv1alpha1.Isolation{
		"regions": binderyv1alpha1.IsolationPrefixed, "zones": binderyv1alpha1.IsolationNone, "sites": binderyv1alpha1.IsolationNamespaced,
	} {
		require.NoError(t, c.Create(ctx, &binderyv1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: binderyv1alpha1.APIServiceExportTemplateSpec{
				DisplayName:            name,
				Resources:              []binderyv1alpha1.ExportedResource{{Group: "geo.example.com", Resource: name}},
				ClusterScopedIsolation: iso,
			},
		}))
	}
	resA, err := onboarding.Ensure(t.Context(), p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "a"}, "Test Provider")
	require.NoError(t, err)
	nsA, clientA := resA.Namespace, p.TokenClient(t, resA.Namespace, resA.ServiceAccount)
	resB, err := onboarding.Ensure(t.Context(), p.Client, providername.Consumer{Issuer: "https://idp", Subject: "bob", ClusterID: "b"}, "Test Provider")
	require.NoError(t, err)
	nsB, clientB := resB.Namespace, p.TokenClient(t, resB.Namespace, resB.ServiceAccount)
	for ns, cl := range map[string]client.Client{nsA: clientA, nsB: clientB} {
		for _, resource := range []string{"regions", "zones", "sites"} {
			require.NoError(t, cl.Create(ctx, &kubebindv1alpha1.APIServiceExportRequest{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resource, Annotations: map[string]string{consumer.TemplateAnnotation: resource}},
				Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
					{GroupResource: kubebindv1alpha1.GroupResource{Group: "geo.example.com", Resource: resource}}}},
			}))
		}
	}

	// A request for objects granted by name succeeds only once the
	// consumer may create them, seconds after the provider first offers
	// the resource: a bind is not Ready before its first object can be
	// copied.
	for _, ns := range []string{nsA, nsB} {
		for _, resource := range []string{"regions", "zones"} {
			framework.Eventually(t, func() (bool, string) {
				req := &kubebindv1alpha1.APIServiceExportRequest{}
				require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: resource}, req))
				return req.Status.Phase == kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded, fmt.Sprintf("request %s/%s: %q", ns, resource, req.Status.Phase)
			}, framework.WaitTimeout)
			role := &rbacv1.ClusterRole{}
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: clusterobjects.RoleName(ns)}, role))
			assert.True(t, slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, "create")
			}), "when request %s/%s succeeded, its grant was %+v", ns, resource, role.Rules)
		}
	}

	mineA := object("Region", nsA+"-eu", nsA)
	framework.Eventually(t, func() (bool, string) {
		err := clientA.Create(ctx, mineA.DeepCopy())
		return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
	}, framework.WaitTimeout)
	mineB := object("Region", nsB+"-eu", nsB)
	framework.Eventually(t, func() (bool, string) {
		err := clientB.Create(ctx, mineB.DeepCopy())
		return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
	}, framework.WaitTimeout)

	// Create is granted once the admission policy is in force.
	framework.Eventually(t, func() (bool, string) {
		err := clientA.Create(ctx, object("Zone", "zone-1", nsA))
		return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
	}, framework.WaitTimeout)

	t.Run("a konnector reads, updates and watches its own objects by name", func(t *testing.T) {
		framework.Eventually(t, func() (bool, string) {
			got := object("Region", mineA.GetName(), "")
			if err := clientA.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
				return false, err.Error()
			}
			got.Object["spec"] = map[string]any{"size": "large"}
			return clientA.Update(ctx, got) == nil, "update refused"
		}, framework.WaitTimeout)
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("geo.example.com/v1")
		list.SetKind("RegionList")
		require.NoError(t, clientA.List(ctx, list, client.MatchingFields{"metadata.name": mineA.GetName()}))
		assert.Len(t, list.Items, 1)
	})

	t.Run("writes outside the consumer's label and prefix are refused", func(t *testing.T) {
		cases := []struct {
			name string
			obj  *unstructured.Unstructured
			want string
		}{
			{"no prefix", object("Region", "eu", nsA), "a konnector may only write objects named " + nsA + "-<name>"},
			{"another consumer's prefix", object("Region", nsB+"-west", nsA), "named " + nsA + "-<name>"},
			{"another consumer's label", object("Region", nsA+"-west", nsB), "a konnector may only write objects labelled " + consumer.ClusterNamespaceLabel + "=" + nsA},
			{"no label", object("Region", nsA+"-west", ""), "labelled " + consumer.ClusterNamespaceLabel},
			{"no label, None isolation", object("Zone", "zone-1", ""), "labelled " + consumer.ClusterNamespaceLabel},
		}
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				err := clientA.Create(ctx, tt.obj)
				require.Error(t, err)
				assert.True(t, apierrors.IsForbidden(err) || apierrors.IsInvalid(err), err.Error())
				assert.Contains(t, err.Error(), tt.want)
			})
		}
	})

	t.Run("a consumer gets 403 on another consumer's objects", func(t *testing.T) {
		framework.Eventually(t, func() (bool, string) {
			err := clientB.Get(ctx, client.ObjectKeyFromObject(mineB), object("Region", mineB.GetName(), ""))
			return err == nil, fmt.Sprint(err) // B's own grant is in place
		}, framework.WaitTimeout)
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("geo.example.com/v1")
		list.SetKind("RegionList")
		cases := map[string]error{
			"get":               clientA.Get(ctx, client.ObjectKeyFromObject(mineB), object("Region", mineB.GetName(), "")),
			"list cluster-wide": clientA.List(ctx, list),
			"list B's by name":  clientA.List(ctx, list, client.MatchingFields{"metadata.name": mineB.GetName()}),
			"delete":            clientA.Delete(ctx, object("Region", mineB.GetName(), "")),
			"update":            clientA.Update(ctx, object("Region", mineB.GetName(), nsA)),
		}
		for what, err := range cases {
			assert.True(t, apierrors.IsForbidden(err), "%s: want 403, got %v", what, err)
		}
	})

	t.Run("under None isolation names are shared, and a taken name stays its owner's", func(t *testing.T) {
		err := clientB.Create(ctx, object("Zone", "zone-1", nsB))
		assert.True(t, apierrors.IsAlreadyExists(err), "got %v", err)
		got := object("Zone", "zone-1", "")
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(got), got))
		assert.Equal(t, nsA, got.GetLabels()[consumer.ClusterNamespaceLabel])
		assert.True(t, apierrors.IsForbidden(clientB.Get(ctx, client.ObjectKeyFromObject(got), object("Zone", "zone-1", ""))))
	})

	t.Run("at the bound create is withdrawn, for that resource only, and given back when one goes", func(t *testing.T) {
		createRule := func(resource string) bool {
			role := &rbacv1.ClusterRole{}
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: clusterobjects.RoleName(nsA)}, role))
			return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, "create")
			})
		}
		// A has one Region; the bound is two.
		require.NoError(t, clientA.Create(ctx, object("Region", nsA+"-us", nsA)))
		framework.Eventually(t, func() (bool, string) {
			return !createRule("regions"), "create on regions is still granted"
		}, framework.WaitTimeout)
		err := clientA.Create(ctx, object("Region", nsA+"-asia", nsA))
		assert.True(t, apierrors.IsForbidden(err), "a third Region is refused: %v", err)
		assert.True(t, createRule("zones"), "A has one Zone: it may create more")

		require.NoError(t, clientA.Delete(ctx, object("Region", nsA+"-us", "")))
		framework.Eventually(t, func() (bool, string) {
			err := clientA.Create(ctx, object("Region", nsA+"-asia", nsA))
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		// Its own by-name grant follows the new object.
		framework.Eventually(t, func() (bool, string) {
			err := clientA.Delete(ctx, object("Region", nsA+"-asia", ""))
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
	})

	t.Run("an export's own bound wins over the backend's", func(t *testing.T) {
		zonesCreate := func() bool {
			role := &rbacv1.ClusterRole{}
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: clusterobjects.RoleName(nsA)}, role))
			return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Contains(r.Resources, "zones") && slices.Contains(r.Verbs, "create")
			})
		}
		setBound := func(bound *string) {
			require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
				e := &kubebindv1alpha1.APIServiceExport{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: "zones.geo.example.com"}, e); err != nil {
					return err
				}
				if bound == nil {
					delete(e.Annotations, binderyv1alpha1.MaxObjectsAnnotation)
				} else {
					e.Annotations[binderyv1alpha1.MaxObjectsAnnotation] = *bound
				}
				return c.Update(ctx, e)
			}))
		}
		// A has one Zone: its service's bound of 1 is reached, the
		// backend's 2 is not.
		setBound(ptr.To("1"))
		framework.Eventually(t, func() (bool, string) { return !zonesCreate(), "create on zones is still granted" }, framework.WaitTimeout)
		setBound(nil)
		framework.Eventually(t, func() (bool, string) { return zonesCreate(), "create on zones is not granted back" }, framework.WaitTimeout)
	})

	t.Run("the grant names exactly the consumer's objects and follows deletions", func(t *testing.T) {
		role := &rbacv1.ClusterRole{}
		names := func() []string {
			require.NoError(t, c.Get(ctx, client.ObjectKey{Name: clusterobjects.RoleName(nsA)}, role))
			var out []string
			for _, r := range role.Rules {
				out = append(out, r.ResourceNames...)
			}
			return out
		}
		framework.Eventually(t, func() (bool, string) {
			got := names()
			return slices.Contains(got, mineA.GetName()) && slices.Contains(got, "zone-1") && !slices.Contains(got, mineB.GetName()), fmt.Sprint(got)
		}, framework.WaitTimeout)
		assert.False(t, rbacgrant.HasWildcard(role.Rules))
		require.NoError(t, clientA.Delete(ctx, object("Region", mineA.GetName(), "")))
		framework.Eventually(t, func() (bool, string) {
			got := names()
			return !slices.Contains(got, mineA.GetName()), fmt.Sprint(got)
		}, framework.WaitTimeout)
	})

	t.Run("under Namespaced isolation a consumer uses its objects in its own namespace only", func(t *testing.T) {
		site := func(ns, name string) *unstructured.Unstructured {
			u := object("Site", name, "")
			u.SetNamespace(ns)
			return u
		}
		framework.Eventually(t, func() (bool, string) {
			err := clientA.Create(ctx, site(nsA, "berlin"))
			return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		got := site(nsA, "berlin")
		require.NoError(t, clientA.Get(ctx, client.ObjectKeyFromObject(got), got))
		got.Object["spec"] = map[string]any{"size": "large"}
		require.NoError(t, clientA.Update(ctx, got))
		framework.Eventually(t, func() (bool, string) {
			err := clientB.Create(ctx, site(nsB, "berlin"))
			return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("geo.example.com/v1")
		list.SetKind("SiteList")
		cases := map[string]error{
			"get B's":           clientA.Get(ctx, client.ObjectKeyFromObject(site(nsB, "berlin")), site(nsB, "berlin")),
			"list B's":          clientA.List(ctx, list, client.InNamespace(nsB)),
			"list cluster-wide": clientA.List(ctx, list),
			"create in B's":     clientA.Create(ctx, site(nsB, "paris")),
			"delete B's":        clientA.Delete(ctx, site(nsB, "berlin")),
		}
		for what, err := range cases {
			assert.True(t, apierrors.IsForbidden(err), "%s: want 403, got %v", what, err)
		}
		// At most two of a consumer's sites: the objects quota of its
		// cluster namespace counts them.
		require.NoError(t, clientA.Create(ctx, site(nsA, "paris")))
		err := clientA.Create(ctx, site(nsA, "rome"))
		require.Error(t, err, "a third site is over the bound")
		assert.True(t, apierrors.IsForbidden(err), "refused: %v", err)
		assert.Contains(t, err.Error(), "exceeded quota: "+consumer.ObjectsQuotaName)
		assert.Contains(t, err.Error(), "count/sites.geo.example.com")
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: consumer.ObjectsQuotaName}, &corev1.ResourceQuota{}))

		role := &rbacv1.Role{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: clusterobjects.NamespacedRoleName}, role))
		assert.False(t, rbacgrant.HasWildcard(role.Rules))
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: clusterobjects.RoleName(nsA)}, &rbacv1.ClusterRole{}))
	})

	t.Run("without a Namespaced export, its grant and its objects quota go", func(t *testing.T) {
		require.NoError(t, c.Delete(ctx, &kubebindv1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "sites"}}))
		require.NoError(t, c.Delete(ctx, &kubebindv1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: nsB, Name: "sites.geo.example.com"}}))
		framework.Eventually(t, func() (bool, string) {
			errQuota := c.Get(ctx, client.ObjectKey{Namespace: nsB, Name: consumer.ObjectsQuotaName}, &corev1.ResourceQuota{})
			errRole := c.Get(ctx, client.ObjectKey{Namespace: nsB, Name: clusterobjects.NamespacedRoleName}, &rbacv1.Role{})
			return apierrors.IsNotFound(errQuota) && apierrors.IsNotFound(errRole), fmt.Sprintf("quota: %v; role: %v", errQuota, errRole)
		}, framework.WaitTimeout)
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: nsA, Name: consumer.ObjectsQuotaName}, &corev1.ResourceQuota{}), "A's stays")
	})

	t.Run("a removed consumer's objects are deleted, and only its", func(t *testing.T) {
		zone := object("Zone", "zone-1", "")
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(zone), zone), "A's object is there before")
		require.NoError(t, c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsA}}))
		framework.Eventually(t, func() (bool, string) {
			err := c.Get(ctx, client.ObjectKeyFromObject(zone), object("Zone", "zone-1", ""))
			return apierrors.IsNotFound(err), "A's Zone is still there: " + fmt.Sprint(err)
		}, framework.WaitTimeout)
		got := object("Region", mineB.GetName(), "")
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(got), got), "B's object is kept")
		assert.Nil(t, got.GetDeletionTimestamp())
	})
}
