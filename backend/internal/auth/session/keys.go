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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys in the Secret. RotateKeys moves the current keys to the previous
// ones and records when.
const (
	SigningKeyField            = "signing-key"
	EncryptionKeyField         = "encryption-key"
	PreviousSigningKeyField    = "previous-signing-key"
	PreviousEncryptionKeyField = "previous-encryption-key"
	RotatedAtField             = "rotated-at"
)

// MaxLifetime is the longest a signed value (a login, a session, a code)
// lives, and so how long the previous keys are still accepted after a
// rotation.
const MaxLifetime = 30 * time.Minute

// Keys sign and encrypt cookies.
type Keys struct {
	// Signing is the HMAC key: at least 32 bytes; 64 recommended.
	Signing []byte
	// Encryption is the AES key: 16, 24 or 32 bytes.
	Encryption []byte
	// Previous are the keys before the last rotation, accepted (never
	// used to sign) until PreviousUntil.
	Previous      *Keys
	PreviousUntil time.Time
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
	if rotated, err := time.Parse(time.RFC3339, string(data[RotatedAtField])); err == nil {
		prev := Keys{Signing: data[PreviousSigningKeyField], Encryption: data[PreviousEncryptionKeyField]}
		if prev.Validate() == nil {
			k.Previous, k.PreviousUntil = &prev, rotated.Add(MaxLifetime)
		}
	}
	return k, nil
}

// RotateKeys replaces the keys in the Secret namespace/name with new
// random ones, keeping the current ones as the previous keys, which
// backends started afterwards accept for MaxLifetime, so that no login in
// progress fails.
func RotateKeys(ctx context.Context, c client.Client, namespace, name string, now time.Time) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret); err != nil {
			return fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		current := Keys{Signing: secret.Data[SigningKeyField], Encryption: secret.Data[EncryptionKeyField]}
		if err := current.Validate(); err != nil {
			return fmt.Errorf("session key Secret %s/%s: %w", namespace, name, err)
		}
		secret.Data[PreviousSigningKeyField] = current.Signing
		secret.Data[PreviousEncryptionKeyField] = current.Encryption
		secret.Data[SigningKeyField] = random(64)
		secret.Data[EncryptionKeyField] = random(32)
		secret.Data[RotatedAtField] = []byte(now.UTC().Format(time.RFC3339))
		if err := c.Update(ctx, secret); err != nil {
			return fmt.Errorf("writing Secret %s/%s: %w", namespace, name, err)
		}
		return nil
	})
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
