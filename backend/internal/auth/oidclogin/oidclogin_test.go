package oidclogin

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIdentity(t *testing.T) {
	tests := []struct {
		name     string
		claims   map[string]any
		wantName string
	}{
		{"a verified email", map[string]any{"email": "a@example.com", "email_verified": true, "name": "A"}, "a@example.com"},
		{"an unverified email is not the name", map[string]any{"email": "boss@example.com", "email_verified": false, "name": "Mallory"}, "Mallory"},
		{"an email without email_verified is not the name", map[string]any{"email": "boss@example.com", "preferred_username": "mallory"}, "mallory"},
		{"email_verified as a string is not true", map[string]any{"email": "boss@example.com", "email_verified": "true"}, ""},
		{"no claims", map[string]any{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := identity("https://idp", "sub", tt.claims, "groups")
			assert.Equal(t, tt.wantName, id.Name)
			assert.Equal(t, "sub", id.Subject)
		})
	}
	assert.Equal(t, []string{"dev", "ops"}, identity("i", "s", map[string]any{"groups": []any{"dev", "ops"}}, "groups").Groups)
}
