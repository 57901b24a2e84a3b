package app_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/auth/rbac/validation"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bindery-dev/bindery/backend/internal/app"
	"github.com/bindery-dev/bindery/backend/internal/options"
	"github.com/bindery-dev/bindery/test/framework"
)

func rules(perms []app.Permission) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, p := range perms {
		out = append(out, rbacv1.PolicyRule{Verbs: []string{p.Verb}, APIGroups: []string{p.Group}, Resources: []string{p.Resource}})
	}
	return out
}

// TestBackendSaysWhichPermissionsItLacks: a backend whose identity lacks
// permissions does not start, and names every verb and resource it lacks.
func TestBackendSaysWhichPermissionsItLacks(t *testing.T) {
	t.Parallel()
	c := framework.StartCluster(t, "provider")
	ctx := t.Context()
	var granted, withheld []app.Permission
	for _, p := range app.RequiredPermissions {
		if (p.Verb == "create" && p.Resource == "namespaces") || p.Resource == "serviceaccounts/token" {
			withheld = append(withheld, p)
			continue
		}
		granted = append(granted, p)
	}
	require.Len(t, withheld, 2)
	_, err := c.Kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "almost"}, Rules: rules(granted)}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.Kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "almost"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "almost"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "backend"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := c.AddUser(t, "backend")

	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	framework.Eventually(t, func() (bool, string) {
		err := app.CheckPermissions(ctx, kube, "bindery-system", granted)
		return err == nil, fmt.Sprint("the grant takes effect: ", err)
	}, framework.WaitTimeout)

	o := app.Options{Controllers: options.NewControllers(), Server: options.NewServer()}
	o.Controllers.LeaderElection = false
	o.Server.OIDCIssuer = options.EmbeddedIssuer
	o.Server.Namespace = "bindery-system"
	err = app.Run(ctx, cfg, o, zap.New())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lacks 2 permission(s) it needs: it may not create namespaces, create serviceaccounts/token")
	assert.Contains(t, err.Error(), "charts/backend's ClusterRole")
}

// TestChartGrantsRequiredPermissions: charts/backend's ClusterRole and
// Role grant every permission the backend checks for at start.
func TestChartGrantsRequiredPermissions(t *testing.T) {
	helm, err := framework.HelmPath()
	require.NoError(t, err)
	out, err := exec.Command(helm, "template", "b", filepath.Join(framework.RepoRoot(), "charts", "backend"), "--namespace", "bindery-system",
		"--set", "externalURL=https://b.example.com", "--set", "apiServer=https://api.example.com",
		"--set", "oidc.issuerURL=https://login.example.com", "--set", "oidc.clientSecret.secretName=oidc").CombinedOutput()
	require.NoError(t, err, "%s", out)

	var cluster, own []rbacv1.PolicyRule
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(out)), 4096)
	for {
		var obj struct {
			Kind  string              `json:"kind"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := dec.Decode(&obj); err != nil {
			break
		}
		switch obj.Kind {
		case "ClusterRole":
			cluster = append(cluster, obj.Rules...)
		case "Role":
			own = append(own, obj.Rules...)
		}
	}
	require.NotEmpty(t, cluster)
	for _, r := range cluster {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			assert.NotContains(t, list, "*", "no wildcards: %v", r)
		}
		assert.NotContains(t, r.Verbs, "escalate")
		assert.NotContains(t, r.Verbs, "bind")
	}
	covers, missing := validation.Covers(cluster, rules(app.RequiredPermissions))
	assert.True(t, covers, "the ClusterRole lacks %v", missing)
	covers, missing = validation.Covers(own, rules(app.LeaderElectionPermissions))
	assert.True(t, covers, "the leader election Role lacks %v", missing)
}
