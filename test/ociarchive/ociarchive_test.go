package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWrite(t *testing.T) {
	img := Image{
		Ref:        "registry.example.com/bindery/konnector:v1.2.3",
		Entrypoint: []string{"/usr/local/bin/konnector"},
		User:       "65532:65532",
		Labels:     map[string]string{"org.opencontainers.image.version": "v1.2.3"},
		Created:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Arch:       "arm64",
		Files: []File{
			{Path: "/usr/local/bin/konnector", Mode: 0o755, Data: []byte("#!program")},
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		},
	}
	var a, b bytes.Buffer
	da, err := Write(&a, img)
	require.NoError(t, err)
	db, err := Write(&b, img)
	require.NoError(t, err)
	assert.Equal(t, da, db, "the same inputs give the same digest")
	assert.Equal(t, a.Bytes(), b.Bytes(), "and the same archive")

	files := untar(t, a.Bytes())
	var index ocispec.Index
	require.NoError(t, json.Unmarshal(files["index.json"], &index))
	require.Len(t, index.Manifests, 1)
	assert.Equal(t, da, index.Manifests[0].Digest)
	assert.Equal(t, img.Ref, index.Manifests[0].Annotations["io.containerd.image.name"], "containerd imports it under its name")
	assert.Equal(t, "v1.2.3", index.Manifests[0].Annotations[ocispec.AnnotationRefName])
	assert.Contains(t, string(files["oci-layout"]), `"imageLayoutVersion":"1.0.0"`)

	var manifest ocispec.Manifest
	require.NoError(t, json.Unmarshal(files["blobs/sha256/"+da.Encoded()], &manifest))
	var config ocispec.Image
	require.NoError(t, json.Unmarshal(files["blobs/sha256/"+manifest.Config.Digest.Encoded()], &config))
	assert.Equal(t, "arm64", config.Architecture)
	assert.Equal(t, "linux", config.OS)
	assert.Equal(t, "65532:65532", config.Config.User)
	assert.Equal(t, img.Entrypoint, config.Config.Entrypoint)
	assert.Equal(t, "v1.2.3", config.Config.Labels["org.opencontainers.image.version"])
	assert.Equal(t, img.Created, config.Created.UTC())

	layerGz := files["blobs/sha256/"+manifest.Layers[0].Digest.Encoded()]
	require.NotNil(t, layerGz)
	zr, err := gzip.NewReader(bytes.NewReader(layerGz))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, config.RootFS.DiffIDs[0].Encoded(), digestOf(raw), "the diff ID is the uncompressed layer's")
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		headers[h.Name] = h
	}
	require.Contains(t, headers, "usr/local/bin/konnector")
	assert.Equal(t, int64(0o755), headers["usr/local/bin/konnector"].Mode)
	assert.Contains(t, headers, "usr/", "parent folders are added")
	assert.Equal(t, int64(0o1777), headers["tmp/"].Mode, "the sticky bit is kept")
	assert.Equal(t, img.Created, headers["usr/local/bin/konnector"].ModTime.UTC(), "files carry the image's time")
}

func TestWriteRefusesBadInput(t *testing.T) {
	_, err := Write(io.Discard, Image{Ref: "no-tag"})
	assert.ErrorContains(t, err, "needs a tag")
	_, err = Write(io.Discard, Image{Ref: "a:b", Files: []File{{Path: "relative", Mode: 0o644}}})
	assert.ErrorContains(t, err, "is not absolute")
}

func untar(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = data
	}
}

func digestOf(b []byte) string { return digest.FromBytes(b).Encoded() }
