#!/usr/bin/env bash
# Generates deepcopy code for Bindery's API types and the CRD manifests of
# both Bindery's types and the imported kube-bind v1alpha1 types. The CRDs
# land in apis/crds, which embeds them for the installer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTROLLER_GEN="${CONTROLLER_GEN:?set CONTROLLER_GEN (make generate does)}"

cd "${ROOT}/apis"
echo "generate: deepcopy for apis/bindery/..."
"${CONTROLLER_GEN}" object paths=./bindery/...
echo "generate: CRDs into apis/crds"
rm -f crds/*.yaml
"${CONTROLLER_GEN}" crd:crdVersions=v1 \
  paths=./bindery/... \
  paths=github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1 \
  output:crd:dir=./crds
