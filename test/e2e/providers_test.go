package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

// TestOneAPIFromTwoProviders binds the same template from two providers,
// each with its backend, OpenID provider and operator, into one consumer
// with kubectl bind --namespace in the browser: each namespace's databases
// go to its own provider only, their status and connection Secrets come
// back from it, and a namespace the first provider has is refused for the
// second.
func TestOneAPIFromTwoProviders(t *testing.T) {
	t.Parallel()
	scenario(t)
	cs := framework.StartClusters(t, "provider-a", "provider-b", "consumer")
	pa, pb := startProvider(t, cs[0]), startProvider(t, cs[1])
	stack.ApplyTemplate(t, pa.dyn, "examples/database/template.yaml")
	stack.ApplyTemplate(t, pb.dyn, "examples/database/template.yaml")
	k := startConsumer(t, cs[2])
	ctx := t.Context()
	for _, ns := range []string{"team-a", "team-b"} {
		require.NoError(t, k.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}

	require.Contains(t, k.bind(t, pa, "alice", "postgres", "--namespace", "team-a"), "binding(s) Ready")
	require.Contains(t, k.bind(t, pb, "alice", "postgres", "--namespace", "team-b"), "binding(s) Ready")

	t.Run("each namespace's databases go to its own provider, and come back from it", func(t *testing.T) {
		for _, c := range []struct {
			ns, name    string
			mine, other *provider
		}{{"team-a", "orders", pa, pb}, {"team-b", "billing", pb, pa}} {
			k.createDatabaseIn(t, c.ns, c.name, "small")
			db := k.waitReadyIn(t, c.ns, c.name)
			cp, err := c.mine.dyn.Resource(databases).Namespace(serviceNamespace(t, c.mine, c.ns)).Get(ctx, c.name, metav1.GetOptions{})
			require.NoError(t, err, "%s/%s is on its namespace's provider", c.ns, c.name)
			want, _, _ := unstructured.NestedString(cp.Object, "status", "endpoint")
			got, _, _ := unstructured.NestedString(db.Object, "status", "endpoint")
			assert.Equal(t, want, got, "%s/%s: the status comes from its own provider", c.ns, c.name)

			conn := &corev1.Secret{}
			framework.Eventually(t, func() (bool, string) {
				err := k.client.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: c.name + "-conn"}, conn)
				return err == nil, fmt.Sprint(err)
			}, framework.WaitTimeout)
			assert.Equal(t, want, string(conn.Data["endpoint"]), "the connection Secret comes from the same provider")

			list, err := c.other.dyn.Resource(databases).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, o := range list.Items {
				assert.NotEqual(t, c.name, o.GetName(), "the other provider has no copy of %s/%s", c.ns, c.name)
			}
			assert.Empty(t, assignedNamespaces(t, c.other, c.ns), "the other provider was not asked for %s", c.ns)
		}
	})

	t.Run("a namespace the first provider has is refused for the second, and nothing changes", func(t *testing.T) {
		proc, out := stack.KubectlBind(t, k.cluster, bins, nil, pb.url, "--no-browser", "--login-timeout=2m", "--timeout=2m", "--namespace", "team-a")
		loginAndChoose(t, stack.LoginLink(t, proc, out), "alice", "#bind-postgres")
		require.Error(t, proc.Wait(framework.WaitTimeout))
		assert.Contains(t, out.String(), "namespace(s) team-a already get databases.db.example.com from")
		assert.Empty(t, assignedNamespaces(t, pb, "team-a"), "provider B was not asked for team-a")
		db := k.waitReadyIn(t, "team-a", "orders")
		cp, err := pa.dyn.Resource(databases).Namespace(serviceNamespace(t, pa, "team-a")).Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		want, _, _ := unstructured.NestedString(cp.Object, "status", "endpoint")
		got, _, _ := unstructured.NestedString(db.Object, "status", "endpoint")
		assert.Equal(t, want, got, "team-a still syncs with provider A")
	})
}

// assignedNamespaces returns the provider namespaces provider p assigned to
// consumer namespace ns, of any consumer.
func assignedNamespaces(t *testing.T, p *provider, ns string) []string {
	t.Helper()
	list, err := p.dyn.Resource(asns).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, a := range list.Items {
		if a.GetName() == ns {
			pns, _, _ := unstructured.NestedString(a.Object, "status", "namespace")
			out = append(out, pns)
		}
	}
	return out
}

// serviceNamespace is the provider namespace p assigned to consumer
// namespace ns, once there is one.
func serviceNamespace(t *testing.T, p *provider, ns string) string {
	t.Helper()
	var pns string
	framework.Eventually(t, func() (bool, string) {
		got := assignedNamespaces(t, p, ns)
		if len(got) != 1 || got[0] == "" {
			return false, fmt.Sprintf("provider namespaces of %s: %v", ns, got)
		}
		pns = got[0]
		return true, ""
	}, framework.WaitTimeout)
	return pns
}
