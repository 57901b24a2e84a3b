package providername

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestClusterNamespace(t *testing.T) {
	tests := []struct {
		name       string
		consumer   Consumer
		wantPrefix string
	}{
		{"simple", Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "c1"}, "bindery-alice-"},
		{"email subject", Consumer{Issuer: "https://idp", Subject: "Alice@Example.com", ClusterID: "c1"}, "bindery-alice-example-com-"},
		{"unicode subject", Consumer{Issuer: "https://idp", Subject: "ålice☃", ClusterID: "c1"}, "bindery-lice-"},
		{"empty subject", Consumer{Issuer: "https://idp", ClusterID: "c1"}, "bindery-"},
		{"very long subject", Consumer{Issuer: "https://idp", Subject: strings.Repeat("a", 300), ClusterID: "c1"}, "bindery-aaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClusterNamespace(tt.consumer)
			assertLabel(t, got)
			assert.True(t, strings.HasPrefix(got, tt.wantPrefix), "%q should start with %q", got, tt.wantPrefix)
			assert.Equal(t, got, ClusterNamespace(tt.consumer), "must be deterministic")
		})
	}
}

func TestNamesSeparateConsumers(t *testing.T) {
	base := Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "c1"}
	others := []Consumer{
		{Issuer: "https://idp", Subject: "alice", ClusterID: "c2"},       // same user, other cluster
		{Issuer: "https://idp", Subject: "Alice", ClusterID: "c1"},       // cleans up to the same text
		{Issuer: "https://other-idp", Subject: "alice", ClusterID: "c1"}, // same subject at another issuer
		{Issuer: "https://idp", Subject: "alice-c", ClusterID: "1"},      // shifted boundary
		{Issuer: "https://idp", Subject: "alice", ClusterID: "c1\x00"},   // invisible difference
		{Issuer: "https://idpalice", Subject: "", ClusterID: "c1"},       // moved between fields
		{Issuer: "https://idp", Subject: "alice.", ClusterID: "c1"},      // punctuation only
		{Issuer: "https://idp", Subject: "ALICE", ClusterID: "c1"},       // case only
		{Issuer: "https://idp", Subject: "alice", ClusterID: "C1"},       // case of cluster ID
		{Issuer: "https://idp/", Subject: "alice", ClusterID: "c1"},      // trailing slash of issuer
		{Issuer: "https://idp", Subject: " alice", ClusterID: "c1"},      // leading space
		{Issuer: "https://idp", Subject: "al\u200bice", ClusterID: "c1"}, // zero-width space
	}
	seen := map[string]Consumer{ClusterNamespace(base): base}
	for _, o := range others {
		ns := ClusterNamespace(o)
		if prev, ok := seen[ns]; ok {
			t.Errorf("%+v and %+v share namespace %q", prev, o, ns)
		}
		seen[ns] = o
	}
}

func TestServiceNamespaceAndPrefixedName(t *testing.T) {
	long := strings.Repeat("n", 63)
	tests := []struct{ a, b string }{
		{"bindery-alice-abc", "default"},
		{"bindery-alice-abc", long},
		{long, long},
		{"", ""},
		{"bindery-bob-xyz", "kube-system"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		for _, got := range []string{ServiceNamespace(tt.a, tt.b)} {
			assertLabel(t, got)
			assert.False(t, seen[got], "duplicate name %q", got)
			seen[got] = true
		}
	}
	assert.Equal(t, "bindery-alice-abc-default-", ServiceNamespace("bindery-alice-abc", "default")[:26])
	// The namespace of "a-b" in cluster "x" and of "b" in cluster "x-a"
	// read the same but must differ.
	assert.NotEqual(t, ServiceNamespace("x", "a-b"), ServiceNamespace("x-a", "b"))
}

func TestPrefixedName(t *testing.T) {
	tests := []struct {
		ns, name string
		want     string
		ok       bool
	}{
		{"bindery-alice-5kq3n7o2xa4bq", "mydb", "bindery-alice-5kq3n7o2xa4bq-mydb", true},
		{"bindery-alice-5kq3n7o2xa4bq", "a.b", "bindery-alice-5kq3n7o2xa4bq-a.b", true},
		{"bindery-alice-5kq3n7o2xa4bq", strings.Repeat("n", 253-28), "bindery-alice-5kq3n7o2xa4bq-" + strings.Repeat("n", 253-28), true},
		{"bindery-alice-5kq3n7o2xa4bq", strings.Repeat("n", 253-27), "", false},
	}
	for _, tt := range tests {
		got, ok := PrefixedName(tt.ns, tt.name)
		assert.Equal(t, tt.ok, ok, tt.name)
		if tt.ok {
			assert.Equal(t, tt.want, got)
			assert.True(t, strings.HasPrefix(got, tt.ns+"-"))
		}
	}
}

// FuzzNames checks that every derived name is a valid label of at most 63
// characters, is deterministic, and that different inputs never share a
// name.
func FuzzNames(f *testing.F) {
	f.Add("https://idp", "alice", "c1", "https://idp", "alice", "c2")
	f.Add("", "", "", "", "", "x")
	f.Add("a", "b-c", "d", "a", "b", "c-d")
	f.Add(strings.Repeat("é", 100), strings.Repeat("-", 100), "☃", "x", "y", "z")
	f.Fuzz(func(t *testing.T, i1, s1, c1, i2, s2, c2 string) {
		a := Consumer{Issuer: i1, Subject: s1, ClusterID: c1}
		b := Consumer{Issuer: i2, Subject: s2, ClusterID: c2}
		na, nb := ClusterNamespace(a), ClusterNamespace(b)
		assertLabel(t, na)
		assertLabel(t, nb)
		if na != ClusterNamespace(a) {
			t.Fatalf("not deterministic for %+v", a)
		}
		if a != b && na == nb {
			t.Fatalf("%+v and %+v share %q", a, b, na)
		}
		sa, sb := ServiceNamespace(na, s1), ServiceNamespace(nb, s2)
		assertLabel(t, sa)
		if (na != nb || s1 != s2) && sa == sb {
			t.Fatalf("service namespaces collide: %q", sa)
		}
	})
}

func assertLabel(t testing.TB, s string) {
	t.Helper()
	if len(s) > MaxLength {
		t.Fatalf("%q is %d characters, more than %d", s, len(s), MaxLength)
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		t.Fatalf("%q is not a DNS-1123 label: %v", s, errs)
	}
}
