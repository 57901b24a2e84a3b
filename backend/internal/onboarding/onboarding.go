// Package onboarding creates what a consumer cluster gets on the control
// plane when it binds: its namespace, a ServiceAccount, least-privilege RBAC
// and the ClusterBinding. Binding again from the same cluster is idempotent:
// the same identity always leads to the same namespace and ServiceAccount.
package onboarding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
)

// Result names what Ensure created.
type Result struct {
	Namespace      string
	ServiceAccount string
}

// ClusterRoleName is the per-consumer ClusterRole that lets its konnector
// get its own namespaces by name.
func ClusterRoleName(clusterNamespace string) string {
	return "bindery:konnector:" + clusterNamespace
}

// Ensure creates or updates the consumer's namespace, ServiceAccount,
// RBAC and ClusterBinding.
func Ensure(ctx context.Context, c client.Client, who providername.Consumer, providerPrettyName string) (Result, error) {
	nsName := providername.ClusterNamespace(who)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName}}
	if _, err := controllerutil.CreateOrPatch(ctx, c, ns, func() error {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		if ns.Annotations == nil {
			ns.Annotations = map[string]string{}
		}
		ns.Labels[consumer.RoleLabel] = consumer.RoleCluster
		ns.Labels[consumer.SubjectLabel] = SubjectHash(who.Issuer, who.Subject)
		ns.Annotations[consumer.IssuerAnnotation] = who.Issuer
		ns.Annotations[consumer.SubjectAnnotation] = who.Subject
		ns.Annotations[consumer.ClusterIDAnnotation] = who.ClusterID
		return nil
	}); err != nil {
		return Result{}, fmt.Errorf("ensuring namespace %s: %w", nsName, err)
	}

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: nsName, Name: consumer.ServiceAccountName}}
	if _, err := controllerutil.CreateOrPatch(ctx, c, sa, func() error { return nil }); err != nil {
		return Result{}, fmt.Errorf("ensuring ServiceAccount %s/%s: %w", nsName, sa.Name, err)
	}
	if err := EnsureGrant(ctx, c, c, nsName); err != nil {
		return Result{}, err
	}

	if err := EnsureNamespaceReader(ctx, c, nsName); err != nil {
		return Result{}, err
	}

	cb := &kubebindv1alpha1.ClusterBinding{ObjectMeta: metav1.ObjectMeta{Namespace: nsName, Name: consumer.ClusterBindingName}}
	if _, err := controllerutil.CreateOrPatch(ctx, c, cb, func() error {
		cb.Spec.ProviderPrettyName = providerPrettyName
		cb.Spec.KubeconfigSecretRef = kubebindv1alpha1.LocalSecretKeyRef{Name: consumer.KubeconfigSecretName, Key: "kubeconfig"}
		return nil
	}); err != nil {
		return Result{}, fmt.Errorf("ensuring ClusterBinding: %w", err)
	}
	return Result{Namespace: nsName, ServiceAccount: consumer.ServiceAccountName}, nil
}

// EnsureGrant keeps what a consumer is granted and bounded by in its
// cluster namespace nsName: the quota (Quota), and its konnector's Role and
// RoleBinding (rbacgrant.ClusterNamespaceRules). Onboarding ensures it at
// every bind, and the clustergrant controller keeps it current, so that a
// backend upgrade narrows existing consumers' grants too. reader counts
// what the quota limits.
func EnsureGrant(ctx context.Context, c client.Client, reader client.Reader, nsName string) error {
	if err := EnsureQuota(ctx, c, reader, nsName, consumer.QuotaName, Quota, quotaKinds); err != nil {
		return err
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: nsName, Name: rbacgrant.KonnectorRoleName}}
	if err := ensure(ctx, c, role, func() error {
		role.Rules = rbacgrant.ClusterNamespaceRules(consumer.KubeconfigSecretName)
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring Role %s/%s: %w", nsName, role.Name, err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: nsName, Name: rbacgrant.KonnectorRoleName}}
	if err := ensure(ctx, c, rb, func() error {
		rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}
		rb.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: nsName, Name: consumer.ServiceAccountName}}
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring RoleBinding %s/%s: %w", nsName, rb.Name, err)
	}
	return nil
}

// ensure is controllerutil.CreateOrPatch, tried again when another writer
// created obj between its read and its create: a bind and the clustergrant
// controller both keep a new consumer's grant and quota.
func ensure(ctx context.Context, c client.Client, obj client.Object, mutate controllerutil.MutateFn) error {
	return retry.OnError(retry.DefaultBackoff, apierrors.IsAlreadyExists, func() error {
		_, err := controllerutil.CreateOrPatch(ctx, c, obj, mutate)
		return err
	})
}

// Quota bounds what one consumer cluster can create in its cluster
// namespace: each APIServiceNamespace becomes a provider namespace, a Role
// and a RoleBinding, and each APIServiceExportRequest is work for the
// backend.
var Quota = corev1.ResourceList{
	"count/apiservicenamespaces.kube-bind.io":     resource.MustParse("100"),
	"count/apiserviceexportrequests.kube-bind.io": resource.MustParse("50"),
}

// ServiceQuota bounds the related objects (permission claims) a consumer
// can create in one of its service namespaces. Its exported objects have
// a quota of their own (EnsureObjectsQuota): one quota that counted both
// would refuse Secrets and ConfigMaps too until its custom resources were
// counted.
var ServiceQuota = corev1.ResourceList{
	"count/secrets":    resource.MustParse("500"),
	"count/configmaps": resource.MustParse("500"),
}

// CountedKinds are the list kinds of the custom resources a quota counts,
// by their quota resource name, for the backend to count them itself until
// kube-controller-manager has (see seedQuotaStatus).
type CountedKinds map[corev1.ResourceName]schema.GroupVersionKind

// CountObjects adds to hard and kinds a bound of limit objects of the
// custom resource of gvk, whose plural is plural.
func CountObjects(hard corev1.ResourceList, kinds CountedKinds, gvk schema.GroupVersionKind, plural string, limit int) {
	name := corev1.ResourceName("count/" + plural + "." + gvk.Group)
	hard[name] = *resource.NewQuantity(int64(limit), resource.DecimalSI)
	kinds[name] = gvk.GroupVersion().WithKind(gvk.Kind + "List")
}

// EnsureObjectsQuota keeps the ResourceQuota consumer.ObjectsQuotaName in
// namespace, which bounds a consumer's exported objects there (hard, of
// the custom resources kinds lists), and deletes it when it would bound
// nothing.
func EnsureObjectsQuota(ctx context.Context, c client.Client, reader client.Reader, namespace string, hard corev1.ResourceList, kinds CountedKinds) error {
	if len(hard) > 0 {
		return EnsureQuota(ctx, c, reader, namespace, consumer.ObjectsQuotaName, hard, kinds)
	}
	// Read from the cache first: most namespaces never had one.
	q := &corev1.ResourceQuota{}
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: consumer.ObjectsQuotaName}, q)
	if err == nil {
		err = c.Delete(ctx, q)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ResourceQuota %s/%s: %w", namespace, consumer.ObjectsQuotaName, err)
	}
	return nil
}

// EnsureQuota keeps the hard limits of the consumer's ResourceQuota name
// in namespace, and seeds the usage of the custom resources it counts,
// kinds (see seedQuotaStatus), which it lists with reader.
func EnsureQuota(ctx context.Context, c client.Client, reader client.Reader, namespace, name string, hard corev1.ResourceList, kinds CountedKinds) error {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := ensure(ctx, c, q, func() error {
		q.Spec.Hard = hard.DeepCopy()
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring ResourceQuota %s/%s: %w", namespace, q.Name, err)
	}
	return seedQuotaStatus(ctx, c, reader, q, kinds)
}

// seedQuotaStatus fills in the usage of what the quota counts, when
// kube-controller-manager has not counted it yet. Until a quota has a
// usage for each of its limits, the API server refuses to create anything
// it counts, and kube-controller-manager counts custom resources only
// after it has discovered them (up to 30 s after they were installed) and
// resynced (every 5 min): a new consumer's first request would be refused.
// Every limit of a quota that counts a custom resource must be one kinds
// lists, or that quota refuses what it counts until kube-controller-manager
// has counted the rest. From a seeded usage on, the API server's quota
// admission keeps it current itself.
func seedQuotaStatus(ctx context.Context, c client.Client, reader client.Reader, quota *corev1.ResourceQuota, kinds CountedKinds) error {
	if len(kinds) == 0 {
		return nil // only built-in resources, which kube-controller-manager counts at once
	}
	if cached := (&corev1.ResourceQuota{}); c.Get(ctx, client.ObjectKeyFromObject(quota), cached) == nil && counted(cached) {
		return nil // the usual case, without a read of the API server
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		q := &corev1.ResourceQuota{}
		if err := reader.Get(ctx, client.ObjectKeyFromObject(quota), q); err != nil {
			return fmt.Errorf("reading ResourceQuota %s/%s: %w", quota.Namespace, quota.Name, err)
		}
		used := q.Status.Used.DeepCopy()
		if used == nil {
			used = corev1.ResourceList{}
		}
		changed := false
		for name := range q.Spec.Hard {
			if _, ok := used[name]; ok {
				continue
			}
			gvk, ok := kinds[name]
			if !ok {
				continue // kube-controller-manager counts it at once
			}
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(gvk)
			if err := reader.List(ctx, list, client.InNamespace(quota.Namespace)); err != nil {
				return fmt.Errorf("counting %s in %s: %w", name, quota.Namespace, err)
			}
			used[name] = *resource.NewQuantity(int64(len(list.Items)), resource.DecimalSI)
			changed = true
		}
		if !changed {
			return nil
		}
		q.Status.Used = used
		if q.Status.Hard == nil {
			q.Status.Hard = q.Spec.Hard.DeepCopy()
		}
		return c.Status().Update(ctx, q)
	})
}

// counted reports whether q has a usage for each of its limits.
func counted(q *corev1.ResourceQuota) bool {
	for name := range q.Spec.Hard {
		if _, ok := q.Status.Used[name]; !ok {
			return false
		}
	}
	return true
}

// quotaKinds are the lists of the custom resources Quota counts.
var quotaKinds = CountedKinds{
	"count/apiservicenamespaces.kube-bind.io":     kubebindv1alpha1.SchemeGroupVersion.WithKind("APIServiceNamespaceList"),
	"count/apiserviceexportrequests.kube-bind.io": kubebindv1alpha1.SchemeGroupVersion.WithKind("APIServiceExportRequestList"),
}

// SubjectHash is the value of consumer.SubjectLabel for a user.
func SubjectHash(issuer, subject string) string {
	sum := sha256.Sum256([]byte(issuer + "\n" + subject))
	return hex.EncodeToString(sum[:])[:40]
}

// EnsureNamespaceReader lets the consumer's konnector get its cluster
// namespace and its live service namespaces (those of its
// APIServiceNamespaces not being deleted) by name, and nothing else
// cluster-wide.
//
// Both are owned by the cluster namespace, so that deleting it (revoking
// the consumer) removes them too.
func EnsureNamespaceReader(ctx context.Context, c client.Client, clusterNamespace string) error {
	list := &kubebindv1alpha1.APIServiceNamespaceList{}
	if err := c.List(ctx, list, client.InNamespace(clusterNamespace)); err != nil {
		return fmt.Errorf("listing APIServiceNamespaces of %s: %w", clusterNamespace, err)
	}
	var serviceNamespaces []string
	for _, s := range list.Items {
		if s.DeletionTimestamp == nil {
			serviceNamespaces = append(serviceNamespaces, providername.ServiceNamespace(clusterNamespace, s.Name))
		}
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: clusterNamespace}, ns); err != nil {
		return fmt.Errorf("reading namespace %s: %w", clusterNamespace, err)
	}
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Namespace", Name: ns.Name, UID: ns.UID}}
	name := ClusterRoleName(clusterNamespace)
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := controllerutil.CreateOrPatch(ctx, c, cr, func() error {
		if cr.Labels == nil {
			cr.Labels = map[string]string{}
		}
		cr.OwnerReferences = owner
		cr.Labels[consumer.ClusterNamespaceLabel] = clusterNamespace
		cr.Rules = rbacgrant.NamespaceReadRules(append([]string{clusterNamespace}, serviceNamespaces...)...)
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring ClusterRole %s: %w", name, err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := controllerutil.CreateOrPatch(ctx, c, crb, func() error {
		if crb.Labels == nil {
			crb.Labels = map[string]string{}
		}
		crb.Labels[consumer.ClusterNamespaceLabel] = clusterNamespace
		crb.OwnerReferences = owner
		crb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
		crb.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: clusterNamespace, Name: consumer.ServiceAccountName}}
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring ClusterRoleBinding %s: %w", name, err)
	}
	return nil
}
