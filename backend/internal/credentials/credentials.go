// Package credentials issues the kubeconfig a consumer cluster uses to
// reach the provider: a TokenRequest token of the consumer's
// ServiceAccount, with an expiry, never a legacy token Secret.
//
// The kubeconfig is stored in the Secret that the consumer's ClusterBinding
// references (spec.kubeconfigSecretRef). The rotation controller renews the
// token after two thirds of its lifetime and rewrites the Secret; the
// konnector, which reads that Secret through its ClusterBinding, picks up
// the new kubeconfig without a restart, as kube-bind's konnector does.
package credentials

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
)

const (
	// KubeconfigKey is the Secret key of the kubeconfig, as kube-bind's
	// ClusterBinding references it.
	KubeconfigKey = "kubeconfig"
	// ManagedLabel marks the kubeconfig Secrets this package writes.
	ManagedLabel = "bindery.dev/kubeconfig"
	// IssuedAnnotation and ExpiresAnnotation record the token's lifetime
	// (RFC 3339).
	IssuedAnnotation  = "bindery.dev/token-issued"
	ExpiresAnnotation = "bindery.dev/token-expires"
)

// Issuer issues kubeconfigs.
type Issuer struct {
	Client client.Client
	Kube   kubernetes.Interface
	// Server is the provider API server address consumers reach
	// (--external-address).
	Server string
	// CA is the PEM CA bundle of Server (--external-ca); empty means the
	// system roots.
	CA []byte
	// TTL is the token lifetime asked for.
	TTL time.Duration
}

// Issue requests a token for the consumer ServiceAccount in namespace,
// stores the kubeconfig in the namespace's kubeconfig Secret and returns
// it.
func (i *Issuer) Issue(ctx context.Context, namespace string) ([]byte, error) {
	seconds := int64(i.TTL.Seconds())
	tr, err := i.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, consumer.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", namespace, consumer.ServiceAccountName, err)
	}
	kubeconfig, err := i.kubeconfig(namespace, tr.Status.Token)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: consumer.KubeconfigSecretName}}
	if _, err := controllerutil.CreateOrPatch(ctx, i.Client, secret, func() error {
		if secret.Labels == nil {
			secret.Labels = map[string]string{}
		}
		if secret.Annotations == nil {
			secret.Annotations = map[string]string{}
		}
		secret.Labels[ManagedLabel] = "true"
		secret.Annotations[IssuedAnnotation] = time.Now().UTC().Format(time.RFC3339)
		secret.Annotations[ExpiresAnnotation] = tr.Status.ExpirationTimestamp.UTC().Format(time.RFC3339)
		delete(secret.Annotations, RenewalStoppedAnnotation)
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = map[string][]byte{KubeconfigKey: kubeconfig}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("storing the kubeconfig Secret in %s: %w", namespace, err)
	}
	return kubeconfig, nil
}

func (i *Issuer) kubeconfig(namespace, token string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["provider"] = &clientcmdapi.Cluster{Server: i.Server, CertificateAuthorityData: i.CA}
	cfg.AuthInfos["konnector"] = &clientcmdapi.AuthInfo{Token: token}
	// The namespace of the current context tells kube-bind's konnector
	// where its ClusterBinding lives.
	cfg.Contexts["provider"] = &clientcmdapi.Context{Cluster: "provider", AuthInfo: "konnector", Namespace: namespace}
	cfg.CurrentContext = "provider"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	return out, nil
}
