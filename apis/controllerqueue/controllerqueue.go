// Package controllerqueue holds the work-queue setting every Bindery
// controller manager uses, so the backend, the konnector and their tests
// run their reconcilers the same way.
package controllerqueue

import (
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

// Config is the controller configuration of every manager.
//
// It turns off controller-runtime v0.23's priority queue (on by default)
// and keeps client-go's rate-limited work queue. On the 2-core test
// machine under full load, two different controllers on the priority
// queue (the konnector's binding controller and the example operator)
// each saw a RequeueAfter of 1 to 5 s fire only about 60 s later, and
// Bindery relies on RequeueAfter for heartbeats, CRD establishment and
// credential renewal. Revisit when controller-runtime is upgraded.
func Config() config.Controller {
	return config.Controller{UsePriorityQueue: ptr.To(false)}
}
