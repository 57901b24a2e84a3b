// Package clusterid computes the ID a consumer cluster is known by on
// providers: kubectl bind sends it when logging in, and the konnector
// labels provider copies with it, so both must compute it alike.
package clusterid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// FromUID derives the ID from the kube-system namespace's UID, which is
// stable for the cluster's lifetime.
func FromUID(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(sum[:6])
}

// Get reads the kube-system namespace and returns the cluster's ID.
func Get(ctx context.Context, kube kubernetes.Interface) (string, error) {
	ns, err := kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the kube-system namespace for the cluster ID: %w", err)
	}
	return FromUID(string(ns.UID)), nil
}
