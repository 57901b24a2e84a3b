package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/bindery-dev/bindery/apis/catalog"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := NewRoot(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out})
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestRootCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"help has examples and kubectl's flags", []string{"--help"}, []string{"kubectl bind https://bindery.example.com/export", "--no-browser", "--kubeconfig", "--context", "--dry-run", "list", "unbind"}, ""},
		{"no argument prints help", nil, []string{"Usage:"}, ""},
		{"completion for bash", []string{"completion", "bash"}, []string{"bash completion"}, ""},
		{"too many arguments", []string{"a", "b"}, nil, "accepts at most 1 arg"},
		{"unbind needs a binding", []string{"unbind"}, nil, "or pass --all"},
		{"apiservice needs its inputs", []string{"apiservice"}, nil, "--remote-kubeconfig and -f are required"},
		{"an unreachable consumer cluster", []string{"--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify", "https://bindery.example.com/export"}, nil, "cannot reach the consumer cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, tt.args...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

func TestPrintCatalog(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printCatalog(&out, &catalog.Listing{ProviderPrettyName: "Acme", Services: []catalog.ListedService{
		{Name: "postgres", DisplayName: "PostgreSQL", Resources: []string{"databases.db.example.com"}, Ready: true, Description: "Managed databases."},
		{Name: "cache", DisplayName: "Cache", Resources: []string{"caches.cache.example.com"}, Problem: "CRD missing"},
	}}))
	assert.Contains(t, out.String(), "Acme offers:")
	assert.Regexp(t, `postgres\s+PostgreSQL\s+databases.db.example.com\s+True\s+Managed databases.`, out.String())
	assert.Regexp(t, `cache\s+Cache\s+caches.cache.example.com\s+False: CRD missing`, out.String())
}

func TestReadRequests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	tests := []struct {
		name, body, wantErr string
		want                int
	}{
		{"two YAML documents", "kind: APIServiceExportRequest\nmetadata: {name: a}\n---\nkind: APIServiceExportRequest\nmetadata: {name: b}\n", "", 2},
		{"JSON", `{"kind":"APIServiceExportRequest","metadata":{"name":"a"}}`, "", 1},
		{"another kind", "kind: ConfigMap\n", "only APIServiceExportRequests", 0},
		{"empty", "", "holds no APIServiceExportRequest", 0},
		{"not YAML", "kind: [", "is not YAML or JSON", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readRequests(write(strings.ReplaceAll(tt.name, " ", "-"), tt.body), nil)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, got, tt.want)
		})
	}
	_, err := readRequests(filepath.Join(dir, "missing.yaml"), nil)
	assert.ErrorContains(t, err, "reading")
}
