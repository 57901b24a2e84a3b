// Package version is the version of Bindery's programs, stamped at build
// time with -ldflags "-X github.com/bindery-dev/bindery/apis/version.Version=v1.2.3"
// (`make build`, `make images`, the Dockerfile). The default must equal
// the charts' appVersion, which a test checks: it is the version kubectl
// bind deploys by default.
package version

// Version is the running program's version.
var Version = "v0.1.0-dev"
