package objectsync

import (
	"fmt"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// crossplaneLikeCopy is a provider copy as the konnector caches them for a
// Crossplane composite resource: a few KB of spec (parameters, composition
// selection, references to what was composed), the konnector's labels and
// annotations, and a status.
func crossplaneLikeCopy(i int) []byte {
	refs := ""
	for r := range 6 {
		refs += fmt.Sprintf(`{"apiVersion":"rds.aws.upbound.io/v1beta1","kind":"Instance","name":"db-%d-%d-x7k2p"},`, i, r)
	}
	params := ""
	for p := range 24 {
		params += fmt.Sprintf(`"parameter%02d":"value of parameter %d, long enough to be a real setting",`, p, p)
	}
	return fmt.Appendf(nil, `{"apiVersion":"platform.example.com/v1alpha1","kind":"XPostgreSQLInstance",
"metadata":{"name":"db-%d","namespace":"bindery-alice-default-abc","uid":"5f0c7b7e-8d0a-4a55-9a7e-%012d","resourceVersion":"%d","generation":1,
"creationTimestamp":"2026-11-29T12:00:00Z","labels":{"bindery.dev/managed-by":"konnector","bindery.dev/consumer-cluster":"cluster-a"},
"annotations":{"bindery.dev/origin":"default/db-%d/0d9e1c2a-%d"}},
"spec":{%s"storageGB":20,"version":"16","region":"eu-central-1","deletionPolicy":"Delete",
"compositionRef":{"name":"xpostgresqlinstances.aws.platform.example.com"},"compositionRevisionRef":{"name":"xpostgresqlinstances.aws.platform.example.com-4a1b2c3"},
"compositionUpdatePolicy":"Automatic","writeConnectionSecretToRef":{"name":"db-%d-conn","namespace":"bindery-alice-default-abc"},"resourceRefs":[%s{"apiVersion":"v1","kind":"Secret","name":"x"}]},
"status":{"conditions":[{"type":"Ready","status":"True","reason":"Available","lastTransitionTime":"2026-11-29T12:01:00Z"},{"type":"Synced","status":"True","reason":"ReconcileSuccess","lastTransitionTime":"2026-11-29T12:00:30Z"}],"address":"db-%d.example.internal","port":5432}}`,
		i, i, i, i, i, params, i, refs, i)
}

// BenchmarkCachedCopy reports the heap a Crossplane-like object holds in
// the engine's caches: a provider copy decoded whole (managed fields
// aside), as the cache of copies holds it (its JSON, digests in place of
// the spec), and the consumer object as the cache of consumer objects
// holds it (its JSON).
func BenchmarkCachedCopy(b *testing.B) {
	const n = 2000
	raw := make([][]byte, n)
	for i := range raw {
		raw[i] = crossplaneLikeCopy(i)
	}
	held := func(transform func(any) (any, error)) float64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cached := make([]any, n)
		for i, r := range raw {
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(r); err != nil {
				b.Fatal(err)
			}
			obj, err := transform(u)
			if err != nil {
				b.Fatal(err)
			}
			cached[i] = obj
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(cached)
		return float64(after.HeapAlloc-before.HeapAlloc) / n / 1024
	}
	for b.Loop() {
		whole, cached := held(withoutManagedFields), held(cacheCopy)
		b.ReportMetric(float64(len(raw[0]))/1024, "json-KiB/copy")
		b.ReportMetric(whole, "whole-KiB/copy")
		b.ReportMetric(cached, "cached-KiB/copy")
		b.ReportMetric(cached/whole, "x-whole")
		b.ReportMetric(held(cacheConsumerObject), "cached-KiB/object")
	}
	b.ReportMetric(0, "ns/op")
}
