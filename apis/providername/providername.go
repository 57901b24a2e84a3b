// Package providername derives the names that consumer objects get on the
// control plane (the provider): the namespace of a consumer cluster, the
// namespace of each bound consumer namespace, and the names of prefixed
// cluster-scoped objects.
//
// Every namespace name is deterministic, a valid DNS-1123 label of at most 63
// characters, and readable where possible: it starts with a cleaned-up,
// possibly shortened copy of its inputs and always ends with a hash of the
// exact inputs. Since cleaning up and shortening lose information, the hash
// is what keeps two consumers from ever sharing a name.
package providername

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
)

// MaxLength is the longest name this package returns: a DNS-1123 label.
const MaxLength = 63

// hashLength is the number of base32 characters of hash in every name:
// 13 characters carry 65 bits.
const hashLength = 13

// Consumer identifies a consumer cluster: the user who bound it, as the
// OIDC issuer and subject, and the cluster's ID (the UID of its kube-system
// namespace, as kube-bind's CLI sends it).
type Consumer struct {
	Issuer    string
	Subject   string
	ClusterID string
}

// ClusterNamespace is the provider namespace of a consumer cluster, where
// its ClusterBinding, APIServiceExports and requests live, e.g.
// "bindery-alice-example-com-5kq3n7o2xa4bq".
func ClusterNamespace(c Consumer) string {
	return Bounded("bindery", []string{c.Subject}, "cluster", c.Issuer, c.Subject, c.ClusterID)
}

// ServiceNamespace is the provider namespace that holds the objects of one
// consumer namespace of one consumer cluster, e.g.
// "bindery-alice-5kq3n7-default-2mbtx3gq4ay5c".
func ServiceNamespace(clusterNamespace, consumerNamespace string) string {
	return Bounded("", []string{clusterNamespace, consumerNamespace}, "namespace", clusterNamespace, consumerNamespace)
}

// MaxObjectNameLength is the longest name of a custom object.
const MaxObjectNameLength = 253

// PrefixedName is the provider name of a cluster-scoped consumer object
// under Prefixed isolation: the consumer's cluster namespace, a dash and
// the consumer's name, as kube-bind names them, e.g.
// "bindery-alice-5kq3n7o2xa4bq-mydb". A name stays readable and the prefix
// can be checked by an admission policy. ok is false when the result would
// be longer than an object name may be; such an object cannot be synced.
func PrefixedName(clusterNamespace, name string) (string, bool) {
	out := clusterNamespace + "-" + name
	return out, len(out) <= MaxObjectNameLength
}

// Bounded builds a name from a prefix and readable parts, shortened to fit,
// and a hash over kind and the exact identity strings. kind keeps names of
// different purposes apart even for equal inputs.
func Bounded(prefix string, readable []string, kind string, identity ...string) string {
	hash := Hash(kind, identity...)
	budget := MaxLength - hashLength - 1 // the hash and its dash

	var parts []string
	if p := clean(prefix); p != "" {
		parts = append(parts, p)
	}
	for _, r := range readable {
		if c := clean(r); c != "" {
			parts = append(parts, c)
		}
	}
	readablePart := strings.Join(parts, "-")
	if len(readablePart) > budget {
		readablePart = strings.TrimRight(readablePart[:budget], "-")
	}
	if readablePart == "" {
		// The hash alone could start with a digit, which is fine for a
		// label, but a letter first reads better and is safe everywhere.
		return "x" + hash
	}
	return readablePart + "-" + hash
}

// Hash is a short, lower-case hash of kind and the identity strings. Each
// string is length-prefixed, so ("ab", "c") and ("a", "bc") differ.
func Hash(kind string, identity ...string) string {
	h := sha256.New()
	write := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	write(kind)
	for _, s := range identity {
		write(s)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil))
	return strings.ToLower(enc[:hashLength])
}

// clean lower-cases s and keeps letters and digits, turning every run of
// other characters into one dash, without leading or trailing dashes.
func clean(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	return b.String()
}
