// Package exampleoperator is the example provider's operator, for the
// end-to-end tests and make demo: it provisions "databases" the way a
// Crossplane composition would, slowly, and writes a connection Secret.
package exampleoperator

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"
)

// CRDYAML is the Database CRD.
//
//go:embed crd.yaml
var CRDYAML []byte

// CRD returns the Database CRD.
func CRD() (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(CRDYAML, crd); err != nil {
		return nil, fmt.Errorf("decoding the Database CRD: %w", err)
	}
	return crd, nil
}

// GVK is the Database kind.
var GVK = schema.GroupVersionKind{Group: "db.example.com", Version: "v1", Kind: "Database"}

// Finalizer stands for the cloud resource behind a database: deleting a
// database takes Delay, as deleting a cloud resource would.
const Finalizer = "db.example.com/cloud-resource"

// Reconciler provisions databases.
type Reconciler struct {
	Client client.Client
	// Delay is how long provisioning and deprovisioning take.
	Delay time.Duration
}

// SetupWithManager watches Databases.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GVK)
	return ctrl.NewControllerManagedBy(mgr).Named("database").For(u).Complete(r)
}

// Reconcile moves a database from Provisioning to Ready after Delay, with
// an endpoint and a connection Secret, and holds its deletion for Delay.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	db := &unstructured.Unstructured{}
	db.SetGroupVersionKind(GVK)
	if err := r.Client.Get(ctx, req.NamespacedName, db); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if db.GetDeletionTimestamp() != nil {
		if !controllerutil.ContainsFinalizer(db, Finalizer) {
			return ctrl.Result{}, nil
		}
		if wait := r.Delay - time.Since(db.GetDeletionTimestamp().Time); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, r.setStatus(ctx, db, "Deleting", "")
		}
		controllerutil.RemoveFinalizer(db, Finalizer)
		return ctrl.Result{}, r.Client.Update(ctx, db)
	}
	if controllerutil.AddFinalizer(db, Finalizer) {
		if err := r.Client.Update(ctx, db); err != nil {
			return ctrl.Result{}, err
		}
	}
	if wait := r.Delay - time.Since(db.GetCreationTimestamp().Time); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, r.setStatus(ctx, db, "Provisioning", "")
	}
	endpoint := fmt.Sprintf("%s.%s.db.example.com:5432", db.GetName(), db.GetNamespace())
	if name, _, _ := unstructured.NestedString(db.Object, "spec", "writeConnectionSecretToRef", "name"); name != "" {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: db.GetNamespace(), Name: name}}
		if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, s, func() error {
			s.StringData = map[string]string{"endpoint": endpoint, "username": "app", "password": "example-" + string(db.GetUID())[:8]}
			return controllerutil.SetControllerReference(db, s, r.Client.Scheme())
		}); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("writing the connection Secret: %w", err)
		}
	}
	return ctrl.Result{}, r.setStatus(ctx, db, "Ready", endpoint)
}

func (r *Reconciler) setStatus(ctx context.Context, db *unstructured.Unstructured, phase, endpoint string) error {
	cur, _, _ := unstructured.NestedString(db.Object, "status", "phase")
	gen, _, _ := unstructured.NestedInt64(db.Object, "status", "observedGeneration")
	if cur == phase && gen == db.GetGeneration() {
		return nil
	}
	status := map[string]any{"phase": phase, "observedGeneration": db.GetGeneration()}
	if endpoint != "" {
		status["endpoint"] = endpoint
	}
	db.Object["status"] = status
	return r.Client.Status().Update(ctx, db)
}
