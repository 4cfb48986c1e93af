#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently:
#   - Debian packages: Go and HashiCorp's HCL v2 sources (to build `hclfmt`, the oracle
#     the renderer is checked against), sprig and yaml.v3 sources (to render the Helm chart
#     without helm), git, openssh-server and -client (the SSH remote tests run their own sshd
#     on loopback), prometheus (promtool), lua5.4 (the Argo CD health check's tests).
#   - kube-apiserver, built once from Debian's Kubernetes sources (install-kube-apiserver.sh).
#   - `hclfmt`, built once from Debian's Go sources and cached under $GITSYNC_TOOLS.
# Safe to run again: every step checks whether its result is already there.
set -euo pipefail

TOOLS="${GITSYNC_TOOLS:-$HOME/.cache/gitsync/tools}"
mkdir -p "$TOOLS/bin"

need_pkgs=()
for pkg in golang-go golang-github-hashicorp-hcl-v2-dev golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev git openssh-server openssh-client prometheus lua5.4; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "install-test-tools: installing ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x "$TOOLS/bin/hclfmt" ]; then
  echo "install-test-tools: building hclfmt" >&2
  build=$(mktemp -d)
  (cd "$build" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/cache" \
     go build -o "$TOOLS/bin/hclfmt" github.com/hashicorp/hcl/v2/cmd/hclfmt)
  rm -rf "$build"
fi
"$(dirname "$0")/install-kube-apiserver.sh" >&2
echo "$TOOLS/bin"
