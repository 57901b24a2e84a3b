package bind

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
)

// Namespace is where kubectl bind keeps its objects in the consumer
// cluster: provider kubeconfigs, the cluster secret and the konnector.
const Namespace = "kube-bind"

// ClusterKey returns the key this cluster shows the provider whose login
// URL is authorizeURL (bindprotocol.ClusterKey). It is derived from the
// cluster's secret, which the first bind creates in Secret
// kube-bind/bindery-cluster-key: a provider then accepts binds for this
// cluster only from a kubectl bind that can read that Secret.
func ClusterKey(ctx context.Context, kube kubernetes.Interface, authorizeURL string) (string, error) {
	secrets := kube.CoreV1().Secrets(Namespace)
	s, err := secrets.Get(ctx, bindprotocol.ClusterSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if err := ensureNamespace(ctx, kube, Namespace); err != nil {
			return "", err
		}
		s, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: bindprotocol.ClusterSecretName, Labels: map[string]string{"app.kubernetes.io/managed-by": FieldManager}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{bindprotocol.ClusterSecretKey: []byte(bindprotocol.NewSecret())},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // another kubectl bind was faster
			s, err = secrets.Get(ctx, bindprotocol.ClusterSecretName, metav1.GetOptions{})
		}
	}
	if err != nil {
		return "", consumerError(err, "reading this cluster's key in Secret "+Namespace+"/"+bindprotocol.ClusterSecretName)
	}
	secret := s.Data[bindprotocol.ClusterSecretKey]
	if len(secret) < 32 {
		return "", hinted(nil, "Secret "+Namespace+"/"+bindprotocol.ClusterSecretName+" holds no cluster secret",
			"it was changed by hand; restore it from a backup, or delete it and ask each provider's operators to remove this cluster's key")
	}
	return bindprotocol.ClusterKey(string(secret), authorizeURL), nil
}

// DeleteProviderKubeconfigs deletes the provider kubeconfig Secrets kubectl
// bind stored in the kube-bind namespace, and returns their names.
func DeleteProviderKubeconfigs(ctx context.Context, kube kubernetes.Interface) ([]string, error) {
	secrets := kube.CoreV1().Secrets(Namespace)
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=" + FieldManager})
	if err != nil {
		return nil, consumerError(err, "listing the provider kubeconfigs in "+Namespace)
	}
	var deleted []string
	for _, s := range list.Items {
		if s.Name == bindprotocol.ClusterSecretName || s.Data["kubeconfig"] == nil {
			continue
		}
		if err := secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return deleted, consumerError(err, "deleting Secret "+Namespace+"/"+s.Name)
		}
		deleted = append(deleted, s.Name)
	}
	return deleted, nil
}
