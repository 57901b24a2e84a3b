package framework

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CheckMetricsAuthorized checks that the metrics endpoint at url (a
// controller-runtime HTTPS metrics server authenticating against c) answers
// 401 to a caller without credentials, 403 to a ServiceAccount that may not
// get /metrics, and 200 to one that may.
func CheckMetricsAuthorized(t TB, c *Cluster, url string) {
	t.Helper()
	ctx := t.Context()
	get := func(token string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// The endpoint's certificate is self-signed.
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	token := func(name string) string {
		t.Helper()
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
		if _, err := c.Kube.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating ServiceAccount %s: %v", name, err)
		}
		tr, err := c.Kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating a token of %s: %v", name, err)
		}
		return tr.Status.Token
	}
	want := func(what, tok string, status int) {
		t.Helper()
		Eventually(t, func() (bool, string) {
			got, err := get(tok)
			if err != nil {
				return false, err.Error()
			}
			return got == status, fmt.Sprintf("%s: %d, want %d", what, got, status)
		}, WaitTimeout)
	}
	want("no credentials", "", http.StatusUnauthorized)
	want("a ServiceAccount without the right", token("metrics-nobody"), http.StatusForbidden)

	reader := token("metrics-reader")
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"}, Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	if _, err := c.Kube.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRole metrics-reader: %v", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: "metrics-reader"}},
	}
	if _, err := c.Kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRoleBinding metrics-reader: %v", err)
	}
	want("a ServiceAccount that may get /metrics", reader, http.StatusOK)
}
