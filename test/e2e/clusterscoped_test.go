package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bindery-dev/bindery/test/framework"
)

var (
	regions = schema.GroupVersionResource{Group: "geo.example.com", Version: "v1", Resource: "regions"}
	sites   = schema.GroupVersionResource{Group: "geo.example.com", Version: "v1", Resource: "sites"}
)

// TestClusterScoped binds a cluster-scoped resource with Prefixed
// isolation through the real backend: the copy is named and labelled for
// the consumer, spec goes down (also a removed field), status comes up,
// a restarted konnector takes the copy back without a warning, and
// deleting the consumer object deletes the copy first. Then it binds a
// namespaced CRD offered cluster-scoped with Namespaced isolation: the
// copy keeps its name in the consumer's cluster namespace.
func TestClusterScoped(t *testing.T) {
	t.Parallel()
	scenario(t)
	cs := framework.StartClusters(t, "provider", "team-a")
	p := startProvider(t, cs[0])
	ctx := t.Context()

	require.NoError(t, p.cluster.Client.Create(ctx, framework.SimpleCRD("geo.example.com", "regions", "Region", apiextensionsv1.ClusterScoped)))
	require.NoError(t, p.cluster.Client.Create(ctx, framework.SimpleCRD("geo.example.com", "sites", "Site", apiextensionsv1.NamespaceScoped)))
	templates := schema.GroupVersionResource{Group: "bindery.dev", Version: "v1alpha1", Resource: "apiserviceexporttemplates"}
	for _, tmpl := range []struct{ name, isolation string }{{"regions", "Prefixed"}, {"sites", "Namespaced"}} {
		template := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "bindery.dev/v1alpha1", "kind": "APIServiceExportTemplate",
			"metadata": map[string]any{"name": tmpl.name},
			"spec": map[string]any{
				"displayName": tmpl.name, "clusterScopedIsolation": tmpl.isolation,
				"resources": []any{map[string]any{"group": "geo.example.com", "resource": tmpl.name}},
			},
		}}
		_, err := p.dyn.Resource(templates).Create(ctx, template, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	a := startConsumer(t, cs[1])
	out := a.bind(t, p, "alice", "regions")
	require.Contains(t, out, "binding(s) Ready")
	// The first bind of the resource waits for the provider's grant of
	// create, and says so.
	assert.Contains(t, out, "Pending: the provider grants create of regions.geo.example.com a few seconds after it first offers it")

	region := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "geo.example.com/v1", "kind": "Region",
		"metadata": map[string]any{"name": "eu"},
		"spec":     map[string]any{"size": "small", "zone": "eu-1"},
	}}
	framework.Eventually(t, func() (bool, string) {
		_, err := a.dyn.Resource(regions).Create(ctx, region, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	// The copy is "<cluster namespace>-eu", labelled with the namespace.
	var copyName string
	framework.Eventually(t, func() (bool, string) {
		list, err := p.dyn.Resource(regions).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			return false, fmt.Sprint(err, list)
		}
		cp := list.Items[0]
		ns := cp.GetLabels()["bindery.dev/cluster-namespace"]
		copyName = cp.GetName()
		return ns != "" && copyName == ns+"-eu", "copy " + copyName + " labelled " + ns
	}, framework.WaitTimeout)

	t.Run("spec goes down, also a removed field", func(t *testing.T) {
		_, err := a.dyn.Resource(regions).Patch(ctx, "eu", types.MergePatchType, []byte(`{"spec":{"size":"large","zone":null}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			cp, err := p.dyn.Resource(regions).Get(ctx, copyName, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			spec, _, _ := unstructured.NestedMap(cp.Object, "spec")
			return fmt.Sprint(spec) == "map[size:large]", fmt.Sprint(spec)
		}, framework.WaitTimeout)
	})

	// statusComesUp writes phase on the copy and waits for it on eu.
	statusComesUp := func(t *testing.T, phase string) {
		cp, err := p.dyn.Resource(regions).Get(ctx, copyName, metav1.GetOptions{})
		require.NoError(t, err)
		cp.Object["status"] = map[string]any{"phase": phase}
		_, err = p.dyn.Resource(regions).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			got, err := a.dyn.Resource(regions).Get(ctx, "eu", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			has, _, _ := unstructured.NestedString(got.Object, "status", "phase")
			return has == phase, "phase " + has
		}, framework.WaitTimeout)
	}

	t.Run("status comes up", func(t *testing.T) { statusComesUp(t, "Ready") })

	// noWarningSince fails for each Warning event about eu seen after
	// since.
	noWarningSince := func(t *testing.T, since time.Time, what string) {
		events := &eventsv1.EventList{}
		require.NoError(t, a.client.List(ctx, events))
		for _, e := range events.Items {
			seen := e.EventTime.Time
			if e.Series != nil {
				seen = e.Series.LastObservedTime.Time
			}
			if e.Regarding.Name == "eu" && e.Type == corev1.EventTypeWarning && seen.After(since) {
				t.Errorf("warning %s: %s: %s", what, e.Reason, e.Note)
			}
		}
	}

	t.Run("a bind is Ready only once its first object can be copied", func(t *testing.T) {
		// The provider grants create seconds after it first offers a
		// resource; the request waits for the grant, so the first copy
		// is not refused.
		noWarningSince(t, time.Time{}, "since the bind")
	})

	t.Run("a restarted konnector finds its copy, with no warning", func(t *testing.T) {
		// The copy is readable only by name; its watch starts with the
		// object's first event after the restart, so the first sync may
		// find the name taken before the watch lists it.
		restarted := time.Now()
		a.restartKonnector(t)
		statusComesUp(t, "Degraded")
		noWarningSince(t, restarted, "after the restart")
	})

	t.Run("deleting the consumer object deletes the copy", func(t *testing.T) {
		require.NoError(t, a.dyn.Resource(regions).Delete(ctx, "eu", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			_, errP := p.dyn.Resource(regions).Get(ctx, copyName, metav1.GetOptions{})
			_, errC := a.dyn.Resource(regions).Get(ctx, "eu", metav1.GetOptions{})
			return apierrors.IsNotFound(errP) && apierrors.IsNotFound(errC), fmt.Sprint(errP, " / ", errC)
		}, framework.WaitTimeout)
	})

	t.Run("Namespaced isolation keeps the name in the cluster namespace", func(t *testing.T) {
		clusterNS := copyName[:len(copyName)-len("-eu")]
		out := a.bind(t, p, "alice", "sites")
		require.Contains(t, out, "binding(s) Ready")
		site := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "geo.example.com/v1", "kind": "Site",
			"metadata": map[string]any{"name": "berlin"},
			"spec":     map[string]any{"size": "small"},
		}}
		framework.Eventually(t, func() (bool, string) {
			_, err := a.dyn.Resource(sites).Create(ctx, site, metav1.CreateOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			cp, err := p.dyn.Resource(sites).Namespace(clusterNS).Get(ctx, "berlin", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			cp.Object["status"] = map[string]any{"phase": "Ready"}
			_, err = p.dyn.Resource(sites).Namespace(clusterNS).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			got, err := a.dyn.Resource(sites).Get(ctx, "berlin", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
			return phase == "Ready", "phase " + phase
		}, framework.WaitTimeout)
		require.NoError(t, a.dyn.Resource(sites).Delete(ctx, "berlin", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			_, errP := p.dyn.Resource(sites).Namespace(clusterNS).Get(ctx, "berlin", metav1.GetOptions{})
			_, errC := a.dyn.Resource(sites).Get(ctx, "berlin", metav1.GetOptions{})
			return apierrors.IsNotFound(errP) && apierrors.IsNotFound(errC), fmt.Sprint(errP, " / ", errC)
		}, framework.WaitTimeout)
	})
}
