package objectsync

import "k8s.io/client-go/tools/cache"

// Request is one unit of the engine's work: a bound consumer object, or
// an object one of the binding's permission claims may select.
type Request struct {
	// Object names the consumer object; for a claim, the claimed
	// Secret or ConfigMap by its consumer namespace (whichever side it
	// is copied from).
	Object cache.ObjectName
	// Claimed says Object is claimed by the permission claim of index
	// Claim.
	Claimed bool
	Claim   int
}

// objectRequest is the request of a bound consumer object.
func objectRequest(key cache.ObjectName) Request { return Request{Object: key} }

// claimRequest is the request of the object claim i may select in
// consumer namespace ns.
func claimRequest(i int, ns, name string) Request {
	return Request{Object: cache.NewObjectName(ns, name), Claimed: true, Claim: i}
}
