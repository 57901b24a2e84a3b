package deploy_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/konnector/deploy"
)

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into))
			return
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
}

var clusterScoped = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		opts  deploy.Options
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{{
		name: "defaults: no bound resources, no claims, in kube-bind",
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			kinds := map[string]bool{}
			for _, o := range objs {
				kinds[o.GetKind()] = true
				want := "kube-bind"
				if clusterScoped[o.GetKind()] {
					want = ""
				}
				assert.Equal(t, want, o.GetNamespace(), "%s %s", o.GetKind(), o.GetName())
			}
			assert.Equal(t, map[string]bool{
				"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true, "Deployment": true,
				"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
			}, kinds, "the claim-copies policy is rendered without claims too, so that an uninstall removes it")
			cr := &rbacv1.ClusterRole{}
			find(t, objs, "ClusterRole", deploy.ClusterRoleName, cr)
			for _, r := range cr.Rules {
				assert.NotContains(t, r.Resources, "secrets", "no Secrets cluster-wide without claims")
			}
			d := &appsv1.Deployment{}
			find(t, objs, "Deployment", "konnector", d)
			assert.Equal(t, "ghcr.io/bindery-dev/konnector:v0.1.0-dev", d.Spec.Template.Spec.Containers[0].Image)
			assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--secret-namespace=kube-bind")
		},
	}, {
		name: "bindings, claims, image and namespace",
		opts: deploy.Options{
			Namespace:                "bindery",
			Image:                    "localhost:5000/konnector:v9",
			Bindings:                 []deploy.Binding{{Name: "databases.db.example.com", Group: "db.example.com", Resource: "databases"}},
			ClaimedResources:         []string{"secrets"},
			ReadOnlyClaimedResources: []string{"configmaps"},
		},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			cr := &rbacv1.ClusterRole{}
			find(t, objs, "ClusterRole", deploy.ClusterRoleName, cr)
			var crdNames []string
			var bound, secrets bool
			for _, r := range cr.Rules {
				if len(r.ResourceNames) > 0 && r.Resources[0] == "customresourcedefinitions" {
					crdNames = r.ResourceNames
				}
				bound = bound || (r.APIGroups[0] == "db.example.com" && r.Resources[0] == "databases")
				secrets = secrets || (r.Resources[0] == "secrets" && slices.Contains(r.Verbs, "create"))
				if r.Resources[0] == "configmaps" {
					assert.Equal(t, []string{"get", "list", "watch"}, r.Verbs, "a kind claims only copy from the cluster is read")
				}
			}
			assert.Equal(t, []string{"apiservicebindings.kube-bind.io", "databases.db.example.com"}, crdNames)
			assert.True(t, bound, "the bound resource is granted")
			assert.True(t, secrets, "the claimed kind is granted")
			d := &appsv1.Deployment{}
			find(t, objs, "Deployment", "konnector", d)
			assert.Equal(t, "bindery", d.Namespace)
			assert.Equal(t, "localhost:5000/konnector:v9", d.Spec.Template.Spec.Containers[0].Image)
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			find(t, objs, "ValidatingAdmissionPolicy", deploy.ClaimCopyPolicyName, p)
			assert.Contains(t, p.Spec.MatchConditions[0].Expression, `"system:serviceaccount:bindery:konnector"`, "the konnector of the release namespace")
			assert.Contains(t, p.Spec.MatchConditions[1].Expression, `"bindery"`, "outside its own namespace")
			assert.Contains(t, p.Spec.Validations[0].Expression, `"`+binderyv1alpha1.ClaimedByLabel+`"`, "the label the konnector puts on its copies")
			pb := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			find(t, objs, "ValidatingAdmissionPolicyBinding", deploy.ClaimCopyPolicyName, pb)
			assert.Equal(t, deploy.ClaimCopyPolicyName, pb.Spec.PolicyName)
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := deploy.Render(tt.opts)
			require.NoError(t, err)
			for _, o := range objs {
				if o.GetKind() == "ClusterRole" || o.GetKind() == "Role" {
					rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
					for _, r := range rules {
						for _, field := range []string{"apiGroups", "resources", "verbs"} {
							assert.NotContains(t, r.(map[string]any)[field], "*", "%s %s: no wildcards", o.GetKind(), o.GetName())
						}
					}
				}
			}
			for _, o := range objs {
				_, err := deploy.Resource(o)
				assert.NoError(t, err, "every rendered kind can be applied")
			}
			tt.check(t, objs)
		})
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	for name, o := range map[string]deploy.Options{
		"image without tag":               {Image: "konnector"},
		"image with a port only":          {Image: "localhost:5000/konnector"},
		"claim of another kind":           {ClaimedResources: []string{"pods"}},
		"read-only claim of another kind": {ReadOnlyClaimedResources: []string{"pods"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := deploy.Render(o)
			assert.Error(t, err)
		})
	}
}

func TestChartVersion(t *testing.T) {
	v, err := deploy.ChartVersion()
	require.NoError(t, err)
	assert.NotEmpty(t, v)
}
