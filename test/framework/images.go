package framework

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/bindery-dev/bindery/test/images"
	"github.com/bindery-dev/bindery/test/ociarchive"
)

// Images built once per test binary, into a folder Main removes.
var (
	imagesOnce  sync.Once
	imagesDir   string
	imagesBuilt map[string]images.Archive
	imagesErr   error

	pauseOnce sync.Once
	pausePath string
	pauseErr  error
)

// workDir is the test binary's own folder for what it builds.
var workDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "bindery-build-") })

// Images builds Bindery's images (images.All) as `make images` does, once
// per test binary, and returns their archives by program name, for
// Node.ImportImage. Their references are what the charts and kubectl bind
// deploy by default.
func Images(t TB) map[string]images.Archive {
	t.Helper()
	imagesOnce.Do(func() {
		dir, err := workDir()
		if err != nil {
			imagesErr = err
			return
		}
		imagesDir = filepath.Join(dir, "images")
		built, err := images.Build(images.Options{Root: RepoRoot(), Out: imagesDir}, images.All...)
		if err != nil {
			imagesErr = err
			return
		}
		imagesBuilt = map[string]images.Archive{}
		for _, a := range built {
			imagesBuilt[a.Program.Name] = a
		}
	})
	if imagesErr != nil {
		t.Fatalf("building images: %v", imagesErr)
	}
	return imagesBuilt
}

// pauseArchive builds the sandbox image from test/cmd/pause, once.
func pauseArchive() (string, error) {
	pauseOnce.Do(func() {
		dir, err := workDir()
		if err != nil {
			pauseErr = err
			return
		}
		bin := filepath.Join(dir, "pause")
		if pauseErr = images.BuildStatic(RepoRoot(), "test/cmd/pause", bin, "", ""); pauseErr != nil {
			return
		}
		pausePath = filepath.Join(dir, "pause.oci.tar")
		_, pauseErr = ociarchive.WriteFile(pausePath, ociarchive.Image{
			Ref:        SandboxImage,
			Entrypoint: []string{"/pause"},
			User:       "65535:65535",
			Files:      []ociarchive.File{{Path: "/pause", Mode: 0o755, Source: bin}},
		})
	})
	return pausePath, pauseErr
}
