#!/usr/bin/env bash
# Builds the Kubernetes binaries the integration and e2e tests run against,
# from the Go module proxy: etcd, kube-apiserver and kube-controller-manager
# for every test cluster, and kube-scheduler and kubelet for the tests that
# run pods on a real node.
#
# Pinned versions; the output goes to $ENVTEST_DIR (default
# .cache/envtest/<k8s-version>) and a binary that is already there is not
# rebuilt. The path of the folder is printed last, for KUBEBUILDER_ASSETS.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVTEST_DIR="${ENVTEST_DIR:-${ROOT}/.cache/envtest/${KUBE_VERSION}}"

# Staging modules of k8s.io/kubernetes. Its go.mod pins them to v0.0.0 and
# replaces them with ./staging paths, which do not exist in the module
# download, so each one is replaced with its published v0.x version.
STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
  endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
  kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
  sample-apiserver sample-cli-plugin sample-controller streaming)

log() { echo "envtest: $*" >&2; }

mkdir -p "${ENVTEST_DIR}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

build_etcd() {
  if [[ -x "${ENVTEST_DIR}/etcd" ]]; then
    log "etcd ${ETCD_VERSION} already built in ${ENVTEST_DIR}"
    return
  fi
  log "building etcd ${ETCD_VERSION} (about a minute)"
  mkdir -p "${work}/etcd"
  (
    cd "${work}/etcd"
    go mod init envtest/etcd >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    GOFLAGS=-mod=mod go build -o "${ENVTEST_DIR}/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "${ENVTEST_DIR}/etcd.tmp" "${ENVTEST_DIR}/etcd"
}

build_kube() {
  local missing=()
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    if [[ -x "${ENVTEST_DIR}/${b}" ]]; then
      log "${b} ${KUBE_VERSION} already built in ${ENVTEST_DIR}"
    else
      missing+=("${b}")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  log "building ${missing[*]} ${KUBE_VERSION} (about 5 minutes per binary on 2 cores the first time)"
  local staging_version="v0${KUBE_VERSION#v1}"
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
  mkdir -p "${work}/kube"
  (
    cd "${work}/kube"
    go mod init envtest/kube >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}"
    for m in "${STAGING[@]}"; do
      go mod edit -replace="k8s.io/${m}=k8s.io/${m}@${staging_version}"
    done
    for b in "${missing[@]}"; do
      log "go build k8s.io/kubernetes/cmd/${b}"
      # Stamped, or the node reports v0.0.0-master.
      GOFLAGS=-mod=mod go build -ldflags "${ldflags}" -o "${ENVTEST_DIR}/${b}.tmp" "k8s.io/kubernetes/cmd/${b}"
      mv "${ENVTEST_DIR}/${b}.tmp" "${ENVTEST_DIR}/${b}"
    done
  )
}

build_etcd
build_kube
log "ready: ${ENVTEST_DIR}"
echo "${ENVTEST_DIR}"
