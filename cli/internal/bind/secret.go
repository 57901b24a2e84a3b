package bind

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/bindery-dev/bindery/apis/kubeconfig"
)

// Step 5 of Apply: the provider's kubeconfig, checked to be data, stored
// in a Secret of the consumer cluster.

// providerClient builds a client from the provider kubeconfig; its
// context's namespace is the consumer's namespace there. The kubeconfig is
// data from the provider: nothing in it runs or is read here
// (kubeconfig.ParseProvider).
func providerClient(raw []byte, accepted kubeconfig.ProviderOptions) (dynamic.Interface, string, string, error) {
	p, err := kubeconfig.ParseProvider(raw, accepted)
	if err != nil {
		hint := "tell the provider's operators; nothing was created"
		if strings.Contains(err.Error(), "insecure-skip-tls-verify") {
			hint = "pass --provider-insecure-skip-tls-verify if you accept a provider whose certificate is not checked"
		}
		return nil, "", "", hinted(err, "refusing the provider's kubeconfig", hint)
	}
	ns, cfg := p.Namespace, p.Config
	cfg.UserAgent = "kubectl-bind"
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, "", "", err
	}
	return d, ns, cfg.Host, nil
}

// SecretName is the name of the Secret holding a provider's kubeconfig:
// the same provider and consumer namespace always get the same Secret.
func SecretName(host, providerNamespace string) string {
	sum := sha256.Sum256([]byte(host + "\n" + providerNamespace))
	return "kubeconfig-" + hex.EncodeToString(sum[:5])
}

// ensureNamespace creates namespace ns in the consumer cluster unless it
// exists.
func ensureNamespace(ctx context.Context, kube kubernetes.Interface, ns string) error {
	if _, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return consumerError(err, "creating namespace "+ns)
		}
	} else if err != nil {
		return consumerError(err, "reading namespace "+ns)
	}
	return nil
}

func ensureSecret(ctx context.Context, kube kubernetes.Interface, ns, host, providerNS string, raw []byte, accepted kubeconfig.ProviderOptions) (string, error) {
	if err := ensureNamespace(ctx, kube, ns); err != nil {
		return "", err
	}
	name := SecretName(host, providerNS)
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": FieldManager}, Annotations: map[string]string{"bindery.dev/provider": host}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"kubeconfig": raw},
	}
	if accepted.AllowInsecureTLS {
		s.Annotations[kubeconfig.InsecureTLSAnnotation] = "true"
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if _, err := kube.CoreV1().Secrets(ns).Patch(ctx, name, "application/apply-patch+yaml", raw, metav1.PatchOptions{FieldManager: FieldManager, Force: ptrTrue()}); err != nil {
		return "", consumerError(err, "storing the provider kubeconfig in Secret "+ns+"/"+name)
	}
	return name, nil
}

func ptrTrue() *bool { b := true; return &b }
