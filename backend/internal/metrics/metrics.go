// Package metrics defines the backend's Prometheus metrics, served on the
// controller-runtime metrics endpoint.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// RequestsHandled counts APIServiceExportRequests by outcome
	// (succeeded, failed).
	RequestsHandled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindery_backend_export_requests_total",
		Help: "APIServiceExportRequests handled, by outcome.",
	}, []string{"outcome"})
	// Exports counts APIServiceExports created.
	Exports = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindery_backend_exports_created_total",
		Help: "APIServiceExports created.",
	})
	// SchemaUpdates counts CRD changes applied to or refused for
	// APIServiceExports, by outcome (applied, refused).
	SchemaUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindery_backend_schema_updates_total",
		Help: "CRD changes applied to or refused for APIServiceExports, by outcome.",
	}, []string{"outcome"})
	// BoundConsumers is the number of consumer clusters with a
	// ClusterBinding, by health (healthy, unhealthy).
	BoundConsumers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bindery_backend_bound_consumers",
		Help: "Consumer clusters with a ClusterBinding, by konnector health.",
	}, []string{"health"})
	// RenewalsStopped counts consumers whose token renewal stopped, by
	// reason (NotAllowed, Silent).
	RenewalsStopped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindery_backend_renewals_stopped_total",
		Help: "Consumers whose token is no longer renewed, by reason.",
	}, []string{"reason"})
	// Deprovisioned counts consumer clusters removed after their last
	// binding went.
	Deprovisioned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindery_backend_consumers_deprovisioned_total",
		Help: "Consumer clusters deprovisioned after their last binding went.",
	})
	// ReconcileErrors counts reconcile errors by controller.
	ReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindery_backend_reconcile_errors_total",
		Help: "Reconcile errors, by controller.",
	}, []string{"controller"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(RequestsHandled, Exports, SchemaUpdates, BoundConsumers, RenewalsStopped, Deprovisioned, ReconcileErrors)
}
