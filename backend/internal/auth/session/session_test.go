package session

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestKeysValidate(t *testing.T) {
	tests := []struct {
		name             string
		signing, encrypt int
		wantErr          string
	}{
		// Upstream's example-backend rejected this valid pair at start.
		{name: "64-byte signing key with a 32-byte encryption key", signing: 64, encrypt: 32},
		{name: "32 and 16", signing: 32, encrypt: 16},
		{name: "48 and 24", signing: 48, encrypt: 24},
		{name: "short signing key", signing: 16, encrypt: 32, wantErr: "signing key has 16 bytes"},
		{name: "odd encryption key", signing: 64, encrypt: 20, wantErr: "AES needs 16, 24 or 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Keys{Signing: make([]byte, tt.signing), Encryption: make([]byte, tt.encrypt)}.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				_, err := NewCodec(Keys{Signing: make([]byte, tt.signing), Encryption: make([]byte, tt.encrypt)})
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestCodec(t *testing.T) {
	c, err := NewCodec(Keys{Signing: random(64), Encryption: random(32)})
	require.NoError(t, err)
	in := State{LoginID: "l1", SessionID: "a-session-id-long-enough-never-to-appear-by-chance", Expires: time.Now().Add(time.Minute).Truncate(time.Second)}
	enc, err := c.Encode("state", in)
	require.NoError(t, err)
	assert.NotContains(t, enc, in.SessionID, "the value is encrypted")

	out := State{}
	require.NoError(t, c.Decode("state", enc, &out))
	assert.Equal(t, in.LoginID, out.LoginID)
	assert.True(t, in.Expires.Equal(out.Expires))

	assert.ErrorIs(t, c.Decode("other-name", enc, &out), ErrInvalid, "a value is bound to its name")
	assert.ErrorIs(t, c.Decode("state", "", &out), ErrMissing)
	tampered := []byte(enc)
	tampered[len(tampered)/2] ^= 1
	assert.ErrorIs(t, c.Decode("state", string(tampered), &out), ErrInvalid)

	other, err := NewCodec(Keys{Signing: random(64), Encryption: random(32)})
	require.NoError(t, err)
	assert.ErrorIs(t, other.Decode("state", enc, &out), ErrInvalid, "another key set cannot read it")
}

func TestCookiesAreHostOnly(t *testing.T) {
	c, err := NewCodec(Keys{Signing: random(64), Encryption: random(32)})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, c.SetCookie(rec, "bindery_session_x", State{LoginID: "l"}, time.Minute))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	ck := cookies[0]
	assert.Equal(t, "__Host-bindery_session_x", ck.Name)
	assert.True(t, ck.Secure, "__Host- needs Secure")
	assert.Equal(t, "/", ck.Path, "__Host- needs Path=/")
	assert.Empty(t, ck.Domain, "__Host- forbids Domain")
	assert.True(t, ck.HttpOnly)

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(ck)
	out := State{}
	require.NoError(t, c.ReadCookie(req, "bindery_session_x", &out))
	assert.Equal(t, "l", out.LoginID)
	unprefixed := httptest.NewRequest(http.MethodGet, "/", nil)
	unprefixed.AddCookie(&http.Cookie{Name: "bindery_session_x", Value: ck.Value})
	assert.ErrorIs(t, c.ReadCookie(unprefixed, "bindery_session_x", &out), ErrMissing, "a cookie without the prefix, which a sibling domain could set, is ignored")
}

func TestRotateKeys(t *testing.T) {
	ctx := t.Context()
	cl := fake.NewClientBuilder().WithScheme(scheme.Scheme).Build()
	old, err := LoadOrCreateKeys(ctx, cl, "ns", "keys")
	require.NoError(t, err)
	assert.Nil(t, old.Previous, "nothing rotated yet")
	before, err := NewCodec(old)
	require.NoError(t, err)
	made, err := before.Encode("session", State{LoginID: "in-progress"})
	require.NoError(t, err)

	rotatedAt := time.Now()
	require.NoError(t, RotateKeys(ctx, cl, "ns", "keys", rotatedAt))
	keys, err := LoadOrCreateKeys(ctx, cl, "ns", "keys")
	require.NoError(t, err)
	assert.NotEqual(t, old.Signing, keys.Signing, "new keys")
	require.NotNil(t, keys.Previous)
	assert.Equal(t, old.Signing, keys.Previous.Signing)

	now := rotatedAt
	after, err := NewCodec(keys)
	require.NoError(t, err)
	after.Now = func() time.Time { return now }
	out := State{}
	require.NoError(t, after.Decode("session", made, &out), "a login begun before the rotation goes on")
	assert.Equal(t, "in-progress", out.LoginID)
	fresh, err := after.Encode("session", State{LoginID: "new"})
	require.NoError(t, err)
	assert.ErrorIs(t, before.Decode("session", fresh, &out), ErrInvalid, "new values use the new keys")

	now = rotatedAt.Add(MaxLifetime + time.Minute)
	assert.ErrorIs(t, after.Decode("session", made, &out), ErrInvalid, "the previous keys are refused after one session lifetime")
	require.NoError(t, after.Decode("session", fresh, &out))

	require.NoError(t, RotateKeys(ctx, cl, "ns", "keys", time.Now()))
	again, err := LoadOrCreateKeys(ctx, cl, "ns", "keys")
	require.NoError(t, err)
	assert.Equal(t, keys.Signing, again.Previous.Signing, "only one generation back is kept")
}

func FuzzDecodeState(f *testing.F) {
	c, err := NewCodec(Keys{Signing: bytes.Repeat([]byte{1}, 64), Encryption: bytes.Repeat([]byte{2}, 32)})
	require.NoError(f, err)
	good, err := c.Encode("state", State{LoginID: "x"})
	require.NoError(f, err)
	f.Add(good)
	f.Add("")
	f.Add(strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, s string) {
		out := State{}
		if err := c.Decode("state", s, &out); err == nil && s != good {
			// Only values the key made decode.
			assert.Equal(t, "x", out.LoginID)
		}
	})
}

func TestLoadOrCreateKeysAgreesAcrossReplicas(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).Build()
	var wg sync.WaitGroup
	results := make([]Keys, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKeys(t.Context(), c, "ns", "keys")
			assert.NoError(t, err)
			results[i] = k
		}()
	}
	wg.Wait()
	for _, k := range results[1:] {
		assert.Equal(t, results[0], k)
	}
	s := &corev1.Secret{}
	require.NoError(t, c.Get(t.Context(), keyOf("ns", "keys"), s))
	assert.Len(t, s.Data[SigningKeyField], 64)
	assert.Len(t, s.Data[EncryptionKeyField], 32)

	// A field added later keeps the existing ones.
	data, err := EnsureSecretFields(t.Context(), c, "ns", "keys", map[string]func() ([]byte, error){"extra": func() ([]byte, error) { return []byte("x"), nil }})
	require.NoError(t, err)
	assert.Equal(t, results[0].Signing, data[SigningKeyField])
	assert.Equal(t, []byte("x"), data["extra"])
}

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }
