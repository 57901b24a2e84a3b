package app

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// IssueKubeconfig onboards a consumer cluster without a browser login, as
// an operator does for CI/CD: it creates what a bind creates (cluster
// namespace, ServiceAccount, grants, ClusterBinding) for the subject and
// cluster ID, and returns a kubeconfig for it, which kubectl bind
// apiservice --remote-kubeconfig then uses.
func IssueKubeconfig(ctx context.Context, cfg *rest.Config, o Options, subject, clusterID string) ([]byte, error) {
	direct, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating clientset: %w", err)
	}
	if err := crds.Install(ctx, direct, crds.Provider...); err != nil {
		return nil, fmt.Errorf("installing CRDs: %w", err)
	}
	creds, err := issuerOf(cfg, kube, direct, o.Server)
	if err != nil {
		return nil, err
	}
	who := providername.Consumer{Issuer: consumer.OperatorIssuer, Subject: subject, ClusterID: clusterID}
	res, err := onboarding.Ensure(ctx, direct, who, o.Controllers.ProviderPrettyName)
	if err != nil {
		return nil, err
	}
	return creds.Issue(ctx, res.Namespace)
}

// RotateKeys replaces the cookie keys in the keys Secret namespace/name,
// keeping the current ones as the previous keys (session.RotateKeys).
func RotateKeys(ctx context.Context, cfg *rest.Config, namespace, name string) error {
	direct, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	return session.RotateKeys(ctx, direct, namespace, name, time.Now())
}
