package images_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/images"
)

// TestOneVersion: the version kubectl bind deploys by default (the
// konnector chart's appVersion) is the one every other place names: the
// backend chart, the programs' built-in version and the Dockerfile's
// default, so that a release builds the images kubectl bind deploys.
func TestOneVersion(t *testing.T) {
	root := framework.RepoRoot()
	want, err := images.ChartAppVersion(root, images.Konnector.Chart)
	require.NoError(t, err)
	backend, err := images.ChartAppVersion(root, images.Backend.Chart)
	require.NoError(t, err)
	assert.Equal(t, want, backend, "charts/backend appVersion")

	for file, pattern := range map[string]string{
		"apis/version/version.go": `var Version = "([^"]+)"`,
		"Dockerfile":              `ARG VERSION=(\S+)`,
	} {
		raw, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err)
		matches := regexp.MustCompile(pattern).FindAllStringSubmatch(string(raw), -1)
		require.NotEmpty(t, matches, file)
		for _, m := range matches {
			assert.Equal(t, want, m[1], file)
		}
	}
	for _, p := range images.All {
		repo, err := images.ChartImageRepository(root, p.Chart)
		require.NoError(t, err)
		assert.Regexp(t, `^ghcr\.io/bindery-dev/`+regexp.QuoteMeta(p.Name)+`$`, repo)
	}
}
