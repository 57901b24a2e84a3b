// Package images builds Bindery's container images offline: a static
// program, CA certificates and a non-root user in one layer, written as an
// OCI archive (package ociarchive) that `ctr images import`, `skopeo` or
// `docker load` take. `make images` and the tests' node use it; the
// Dockerfile at the repository root builds the same images with a
// container engine.
//
// The images are named and tagged from the Helm charts, the one source of
// both: an image's repository is its chart's `image.repository`, and its
// tag is the konnector chart's appVersion, the version kubectl bind
// deploys by default.
package images

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bindery-dev/bindery/test/ociarchive"
)

// Program is one of Bindery's programs that ships as an image.
type Program struct {
	// Name is the program's and the image's short name.
	Name string
	// Pkg is the main package's path in the repository.
	Pkg string
	// Chart is the chart folder, in the repository, whose values name the
	// image's repository.
	Chart string
}

var (
	// Konnector runs in every consumer cluster.
	Konnector = Program{Name: "konnector", Pkg: "konnector/cmd/konnector", Chart: "konnector/deploy/chart"}
	// Backend runs on the provider's control plane.
	Backend = Program{Name: "bindery-backend", Pkg: "backend/cmd/bindery-backend", Chart: "charts/backend"}
	// All are the images a release ships.
	All = []Program{Konnector, Backend}
)

// VersionPkg is the package whose Version the build stamps.
const VersionPkg = "github.com/bindery-dev/bindery/apis/version"

// Options say where and how to build.
type Options struct {
	// Root is the repository's root folder.
	Root string
	// Out is the folder the archives are written to.
	Out string
	// Version is the tag and the stamped version; empty means the
	// konnector chart's appVersion.
	Version string
	// Arch is the CPU architecture; empty means this machine's.
	Arch string
	// Created stamps the images; zero means the Unix epoch.
	Created time.Time
	// Revision is the source revision for the OCI label; optional.
	Revision string
}

// Archive is a built image.
type Archive struct {
	Program Program
	// Ref is the image reference, repository:tag.
	Ref string
	// Path is the OCI archive.
	Path string
	// Digest is the manifest's digest.
	Digest string
}

// Build builds the programs' images into o.Out.
func Build(o Options, programs ...Program) ([]Archive, error) {
	if o.Version == "" {
		v, err := ChartAppVersion(o.Root, Konnector.Chart)
		if err != nil {
			return nil, err
		}
		o.Version = v
	}
	arch := o.Arch
	if arch == "" {
		arch = goEnv("GOARCH")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "bindery-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work) //nolint:errcheck

	var out []Archive
	for _, p := range programs {
		repo, err := ChartImageRepository(o.Root, p.Chart)
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(work, p.Name)
		if err := BuildStatic(o.Root, p.Pkg, bin, o.Version, arch); err != nil {
			return nil, err
		}
		ref := repo + ":" + o.Version
		img := ociarchive.Image{
			Ref:        ref,
			Arch:       arch,
			Created:    o.Created,
			Entrypoint: []string{"/usr/local/bin/" + p.Name},
			User:       "65532:65532",
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			Labels:     labels(p, o),
			Files:      append(baseFiles(), ociarchive.File{Path: "/usr/local/bin/" + p.Name, Mode: 0o755, Source: bin}),
		}
		archive := filepath.Join(o.Out, p.Name+"-"+arch+".oci.tar")
		d, err := ociarchive.WriteFile(archive, img)
		if err != nil {
			return nil, err
		}
		out = append(out, Archive{Program: p, Ref: ref, Path: archive, Digest: d.String()})
	}
	return out, nil
}

// labels are the OCI annotations every image carries.
func labels(p Program, o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       p.Name,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.source":      "https://github.com/bindery-dev/bindery",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.vendor":      "Bindery",
		"org.opencontainers.image.description": "Bindery " + p.Name,
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	l["org.opencontainers.image.created"] = created.UTC().Format(time.RFC3339)
	return l
}

// baseFiles are what a static program needs around it: a non-root user
// (65532, "nonroot", as in distroless images), CA certificates for TLS to
// OpenID providers, and a /tmp.
func baseFiles() []ociarchive.File {
	files := []ociarchive.File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{Path: "/home/nonroot", Mode: os.ModeDir | 0o700, UID: 65532, GID: 65532},
		{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
	}
	// The build machine's CA bundle (Debian's ca-certificates).
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, ociarchive.File{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Source: "/etc/ssl/certs/ca-certificates.crt"})
	}
	return files
}

// BuildStatic builds pkg, a main package's path in the repository, as a
// static Linux program with the version stamped in (none when empty), for
// arch (this machine's when empty).
func BuildStatic(root, pkg, out, version, arch string) error {
	module, rel, ok := strings.Cut(pkg, "/")
	if !ok {
		return fmt.Errorf("package %q is not inside a module of the repository", pkg)
	}
	ldflags := "-s -w"
	if version != "" {
		ldflags += " -X " + VersionPkg + ".Version=" + version
	}
	cmd := exec.Command("go", "-C", filepath.Join(root, module), "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./"+rel)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if arch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+arch)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s for linux/%s: %w", pkg, arch, err)
	}
	return nil
}

func goEnv(name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ChartAppVersion reads a chart's appVersion.
func ChartAppVersion(root, chart string) (string, error) {
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := readYAML(filepath.Join(root, chart, "Chart.yaml"), &c); err != nil {
		return "", err
	}
	if c.AppVersion == "" {
		return "", fmt.Errorf("%s has no appVersion", path.Join(chart, "Chart.yaml"))
	}
	return c.AppVersion, nil
}

// ChartImageRepository reads a chart's image.repository value.
func ChartImageRepository(root, chart string) (string, error) {
	var v struct {
		Image struct {
			Repository string `json:"repository"`
		} `json:"image"`
	}
	if err := readYAML(filepath.Join(root, chart, "values.yaml"), &v); err != nil {
		return "", err
	}
	if v.Image.Repository == "" {
		return "", fmt.Errorf("%s sets no image.repository", path.Join(chart, "values.yaml"))
	}
	return v.Image.Repository, nil
}

func readYAML(p string, into any) error {
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	return nil
}
