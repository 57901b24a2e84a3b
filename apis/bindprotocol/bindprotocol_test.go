package bindprotocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestChallenge(t *testing.T) {
	// RFC 7636 appendix B.
	if got := Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("Challenge = %q", got)
	}
	if !ValidChallenge(Challenge(NewSecret())) {
		t.Fatal("a challenge is not valid")
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 44), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c+"} {
		if ValidChallenge(bad) {
			t.Errorf("ValidChallenge(%q) = true", bad)
		}
	}
}

func TestClusterKey(t *testing.T) {
	s := NewSecret()
	a, b := ClusterKey(s, "https://a.example.com/authorize"), ClusterKey(s, "https://b.example.com/authorize")
	if a == b {
		t.Fatal("two providers see the same key")
	}
	if a != ClusterKey(s, "https://a.example.com/authorize") {
		t.Fatal("the key is not stable")
	}
	if a == ClusterKey(NewSecret(), "https://a.example.com/authorize") {
		t.Fatal("two clusters show the same key")
	}
	r := ExchangeRequest{Code: "x", Verifier: NewSecret(), ClusterKey: a}
	if err := r.Validate(); err != nil {
		t.Fatalf("a derived key is not valid: %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := NewSecret()
	tests := []struct {
		name string
		req  ExchangeRequest
		want string
	}{
		{"good", ExchangeRequest{Code: "c", Verifier: good, ClusterKey: good}, ""},
		{"no code", ExchangeRequest{Verifier: good, ClusterKey: good}, "code must be"},
		{"huge code", ExchangeRequest{Code: strings.Repeat("c", 4097), Verifier: good, ClusterKey: good}, "code must be"},
		{"short verifier", ExchangeRequest{Code: "c", Verifier: "short", ClusterKey: good}, "verifier must be"},
		{"verifier with spaces", ExchangeRequest{Code: "c", Verifier: good[:40] + "   ", ClusterKey: good}, "verifier must be"},
		{"no cluster key", ExchangeRequest{Code: "c", Verifier: good}, "clusterKey must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestExchangeURL(t *testing.T) {
	tests := map[string]string{
		"https://bindery.example.com/authorize":          "https://bindery.example.com/exchange",
		"https://example.com/bindery/authorize?x=1#frag": "https://example.com/bindery/exchange",
		"http://127.0.0.1:8080/authorize":                "http://127.0.0.1:8080/exchange",
	}
	for in, want := range tests {
		got, err := ExchangeURL(in)
		if err != nil || got != want {
			t.Errorf("ExchangeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzExchangeRequest feeds arbitrary JSON as an exchange request: a
// request that validates has a bounded code and well-formed secrets.
func FuzzExchangeRequest(f *testing.F) {
	f.Add(`{"code":"c","verifier":"` + NewSecret() + `","clusterKey":"` + NewSecret() + `"}`)
	f.Add(`{"code":""}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, raw string) {
		r := ExchangeRequest{}
		if json.Unmarshal([]byte(raw), &r) != nil || r.Validate() != nil {
			return
		}
		if len(r.Code) == 0 || len(r.Code) > 4096 || !validSecret.MatchString(r.Verifier) || !validSecret.MatchString(r.ClusterKey) {
			t.Fatalf("accepted %+v", r)
		}
		if !ValidChallenge(Challenge(r.Verifier)) {
			t.Fatalf("the challenge of %q is not valid", r.Verifier)
		}
	})
}
