// Command bindery-images builds Bindery's container images as OCI archives,
// offline: `make images` runs it. Import an archive with
// `ctr -n k8s.io images import`, push it with
// `skopeo copy oci-archive:<file> docker://<registry>/<name>:<tag>`, or load
// it with `docker load`.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/bindery-dev/bindery/test/images"
)

func main() {
	o := images.Options{}
	flag.StringVar(&o.Root, "root", ".", "The repository's root folder.")
	flag.StringVar(&o.Out, "out", "_output/images", "Where to write the archives.")
	flag.StringVar(&o.Version, "version", "", "Image tag and stamped version (default: the konnector chart's appVersion).")
	flag.StringVar(&o.Arch, "arch", "", "CPU architecture (default: this machine's).")
	flag.StringVar(&o.Revision, "revision", "", "Source revision for the org.opencontainers.image.revision label.")
	flag.Parse()
	// SOURCE_DATE_EPOCH, the reproducible-builds convention, stamps the
	// images; without it they carry the Unix epoch.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bindery-images: SOURCE_DATE_EPOCH %q is not a number\n", s)
			os.Exit(2)
		}
		o.Created = time.Unix(sec, 0)
	}
	built, err := images.Build(o, images.All...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bindery-images: %v\n", err)
		os.Exit(1)
	}
	for _, a := range built {
		fmt.Printf("%s\t%s\t%s\n", a.Ref, a.Path, a.Digest)
	}
}
