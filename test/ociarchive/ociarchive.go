// Package ociarchive writes container images as OCI image layout archives
// (the tar files `ctr images import`, `skopeo copy oci-archive:` and
// `docker load` take), from files on disk, with no registry, daemon or
// network. Bindery's offline image build (`make images`) and the test
// node use it.
//
// An image is one gzip layer, a config and a manifest. The archive is
// reproducible: every file in it has the image's creation time and fixed
// owners, so the same inputs give the same digests.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	// go-digest finds sha256 through the crypto registry.
	_ "crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one file or folder in the image.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Mode holds the permission bits; a folder has fs.ModeDir set.
	Mode os.FileMode
	// Data is the content; Source, when set, is a file on disk to read it
	// from instead.
	Data   []byte
	Source string
	// UID and GID own the file.
	UID, GID int
}

// Image describes an image to write.
type Image struct {
	// Ref is the name the image is imported under, repository:tag.
	Ref   string
	Files []File
	// Entrypoint and Cmd as in a Dockerfile; User is "uid:gid".
	Entrypoint []string
	Cmd        []string
	User       string
	Env        []string
	Labels     map[string]string
	// Created stamps the config and every file; zero means the Unix epoch,
	// for reproducible builds.
	Created time.Time
	// Arch is the CPU architecture; empty means this machine's.
	Arch string
}

// Write writes img to w as an OCI image layout tar and returns the
// manifest's digest.
func Write(w io.Writer, img Image) (digest.Digest, error) {
	if !strings.Contains(img.Ref, ":") {
		return "", fmt.Errorf("image reference %q needs a tag", img.Ref)
	}
	created := img.Created.UTC()
	if img.Created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	arch := img.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}

	layerTar, err := layer(img.Files, created)
	if err != nil {
		return "", err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(layerTar); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}

	config := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: arch, OS: "linux"},
		Config: ocispec.ImageConfig{
			User:       img.User,
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			Env:        img.Env,
			Labels:     img.Labels,
			WorkingDir: "/",
		},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layerTar)}},
		History: []ocispec.History{{Created: &created, CreatedBy: "bindery ociarchive"}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    descriptor(ocispec.MediaTypeImageConfig, configJSON),
		Layers:    []ocispec.Descriptor{descriptor(ocispec.MediaTypeImageLayerGzip, gz.Bytes())},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	manifestDesc := descriptor(ocispec.MediaTypeImageManifest, manifestJSON)
	manifestDesc.Platform = &config.Platform
	manifestDesc.Annotations = map[string]string{
		// containerd imports the image under this name.
		"io.containerd.image.name": img.Ref,
		ocispec.AnnotationRefName:  img.Ref[strings.LastIndex(img.Ref, ":")+1:],
	}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{manifestDesc}}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return "", err
	}
	layoutJSON, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layoutJSON},
		{ocispec.ImageIndexFile, indexJSON},
		{blobPath(manifest.Layers[0].Digest), gz.Bytes()},
		{blobPath(manifest.Config.Digest), configJSON},
		{blobPath(manifestDesc.Digest), manifestJSON},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: created}); err != nil {
			return "", err
		}
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: created}); err != nil {
			return "", err
		}
		if _, err := tw.Write(e.data); err != nil {
			return "", err
		}
	}
	return manifestDesc.Digest, tw.Close()
}

// WriteFile writes img to the file at p.
func WriteFile(p string, img Image) (digest.Digest, error) {
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	d, err := Write(f, img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
		return "", fmt.Errorf("writing image %s to %s: %w", img.Ref, p, err)
	}
	return d, nil
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// layer is the uncompressed tar of files, with their parent folders, in
// a stable order.
func layer(files []File, created time.Time) ([]byte, error) {
	all := map[string]File{}
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("image path %q is not absolute", f.Path)
		}
		p := path.Clean(f.Path)
		all[p] = f
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = File{Path: dir, Mode: os.ModeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		f := all[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID, ModTime: created, Format: tar.FormatPAX}
		if f.Mode&os.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if f.Mode.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			continue
		}
		data := f.Data
		if f.Source != "" {
			var err error
			if data, err = os.ReadFile(f.Source); err != nil {
				return nil, fmt.Errorf("reading %s for %s: %w", f.Source, p, err)
			}
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
