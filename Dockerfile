# syntax=docker/dockerfile:1
# Bindery's images with your own container tools:
#
#   docker build --target konnector -t <registry>/konnector:<version> .
#   docker build --target bindery-backend -t <registry>/bindery-backend:<version> .
#
# (podman and buildah take the same flags). VERSION must be the charts'
# appVersion, the version kubectl bind deploys by default. `make images`
# builds the same images offline, without a container engine, as OCI
# archives.
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=v0.1.0-dev
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    for p in konnector/cmd/konnector backend/cmd/bindery-backend; do \
      CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go -C "${p%%/*}" build -trimpath \
        -ldflags "-s -w -X github.com/bindery-dev/bindery/apis/version.Version=${VERSION}" \
        -o /out/ "./${p#*/}"; \
    done

# Static programs on distroless: CA certificates, /etc/passwd with the
# non-root user 65532, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot AS base
ARG VERSION=v0.1.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/bindery-dev/bindery" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Bindery"
USER 65532:65532

FROM base AS konnector
LABEL org.opencontainers.image.title="konnector" \
      org.opencontainers.image.description="Bindery konnector"
COPY --from=build /out/konnector /usr/local/bin/konnector
ENTRYPOINT ["/usr/local/bin/konnector"]

FROM base AS bindery-backend
LABEL org.opencontainers.image.title="bindery-backend" \
      org.opencontainers.image.description="Bindery bindery-backend"
COPY --from=build /out/bindery-backend /usr/local/bin/bindery-backend
ENTRYPOINT ["/usr/local/bin/bindery-backend"]
