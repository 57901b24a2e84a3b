// Package version is the konnector's version, set at build time with
// -ldflags "-X github.com/bindery-dev/bindery/konnector/internal/version.Version=v1.2.3".
package version

// Version is the konnector's version.
var Version = "v0.1.0-dev"
