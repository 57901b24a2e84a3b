// Package session keeps the state of a browser login in cookies that are
// signed (HMAC-SHA256) and encrypted (AES), so that any backend replica
// with the same keys accepts them and a restart loses nothing.
//
// The keys come from flags or from a Secret; they are never made up in
// memory only. When the Secret does not exist, the first replica to start
// creates it with random keys and every other replica reads it.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys in the Secret.
const (
	SigningKeyField    = "signing-key"
	EncryptionKeyField = "encryption-key"
)

// Keys sign and encrypt cookies.
type Keys struct {
	// Signing is the HMAC key: at least 32 bytes; 64 recommended.
	Signing []byte
	// Encryption is the AES key: 16, 24 or 32 bytes.
	Encryption []byte
}

// Validate checks the key sizes. Any signing key of 32 bytes or more works
// with any valid AES key size.
func (k Keys) Validate() error {
	if len(k.Signing) < 32 {
		return fmt.Errorf("the cookie signing key has %d bytes; it needs at least 32 (64 recommended)", len(k.Signing))
	}
	switch len(k.Encryption) {
	case 16, 24, 32:
		return nil
	default:
		return fmt.Errorf("the cookie encryption key has %d bytes; AES needs 16, 24 or 32", len(k.Encryption))
	}
}

// KeysFromBase64 decodes keys given as flags.
func KeysFromBase64(signing, encryption string) (Keys, error) {
	s, err := base64.StdEncoding.DecodeString(signing)
	if err != nil {
		return Keys{}, fmt.Errorf("decoding the cookie signing key: %w", err)
	}
	e, err := base64.StdEncoding.DecodeString(encryption)
	if err != nil {
		return Keys{}, fmt.Errorf("decoding the cookie encryption key: %w", err)
	}
	k := Keys{Signing: s, Encryption: e}
	return k, k.Validate()
}

// LoadOrCreateKeys reads the keys from the Secret namespace/name, creating
// it (or the missing keys) with random keys. Concurrent replicas agree:
// the one whose write loses reads the winner's keys.
func LoadOrCreateKeys(ctx context.Context, c client.Client, namespace, name string) (Keys, error) {
	data, err := EnsureSecretFields(ctx, c, namespace, name, map[string]func() ([]byte, error){
		SigningKeyField:    func() ([]byte, error) { return random(64), nil },
		EncryptionKeyField: func() ([]byte, error) { return random(32), nil },
	})
	if err != nil {
		return Keys{}, err
	}
	k := Keys{Signing: data[SigningKeyField], Encryption: data[EncryptionKeyField]}
	if err := k.Validate(); err != nil {
		return Keys{}, fmt.Errorf("session key Secret %s/%s: %w", namespace, name, err)
	}
	return k, nil
}

// EnsureSecretFields returns the data of the Secret namespace/name after
// adding each field of gen that it lacks, creating the Secret if needed.
// Writes use optimistic concurrency, so replicas starting together end up
// with the same values.
func EnsureSecretFields(ctx context.Context, c client.Client, namespace, name string, gen map[string]func() ([]byte, error)) (map[string][]byte, error) {
	var lastErr error
	for range 5 {
		secret := &corev1.Secret{}
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret)
		notFound := apierrors.IsNotFound(err)
		if err != nil && !notFound {
			return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		if notFound {
			secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Type: corev1.SecretTypeOpaque}
		}
		if secret.Data == nil {
			secret.Data = map[string][]byte{}
		}
		changed := false
		for field, g := range gen {
			if len(secret.Data[field]) > 0 {
				continue
			}
			v, err := g()
			if err != nil {
				return nil, fmt.Errorf("generating %s of Secret %s/%s: %w", field, namespace, name, err)
			}
			secret.Data[field] = v
			changed = true
		}
		if !changed {
			return secret.Data, nil
		}
		if notFound {
			err = c.Create(ctx, secret)
		} else {
			err = c.Update(ctx, secret)
		}
		if err == nil {
			return secret.Data, nil
		}
		if !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("writing Secret %s/%s: %w", namespace, name, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("writing Secret %s/%s: %w", namespace, name, lastErr)
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return b
}

// RandomString returns n random bytes, base64url-encoded without padding.
func RandomString(n int) string {
	return base64.RawURLEncoding.EncodeToString(random(n))
}
