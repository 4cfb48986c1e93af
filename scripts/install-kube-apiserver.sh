#!/usr/bin/env bash
# Builds a real `kube-apiserver` for the integration tests (scripts/test-cluster runs it with etcd
# on loopback, no kubelet), from Debian packages only, and caches it at
#   ${GITSYNC_TOOLS:-$HOME/.cache/gitsync/tools}/bin/kube-apiserver
# Debian ships no kube-apiserver binary, but its `kubernetes` source package (1.20.2) holds the
# whole tree with vendor/, and Debian's Go builds it (about 5 minutes on 2 cores):
#   1. apt packages: golang-go etcd-server kubernetes-client rsync openssl curl and Debian's
#      reflect2 1.0.2 sources (golang-github-modern-go-reflect2-dev);
#   2. deb-src lists (a copy of debian.sources with `Types: deb-src`), unless some are there;
#   3. `apt-get source --download-only kubernetes`, untar the orig tarball;
#   4. replace the vendored reflect2 1.0.1 with Debian's 1.0.2 (1.0.1 built with Go >= 1.18 makes
#      the apiserver die with SIGSEGV seconds after start);
#   5. `make WHAT=cmd/kube-apiserver` under a GOPATH symlink (plain `go build` fails).
# Idempotent: when the cached binary is there it only checks (fast) that the packages the test
# cluster runs are installed. Progress goes to stderr; stdout stays empty. Uses sudo for apt only
# when not root.
set -euo pipefail

TOOLS="${GITSYNC_TOOLS:-$HOME/.cache/gitsync/tools}"
BIN="$TOOLS/bin/kube-apiserver"
say() { echo "install-kube-apiserver: $*" >&2; }

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_update() { $SUDO apt-get update -qq >&2; }

# install_missing PKG...: apt-get installs those of PKG that are not installed yet.
install_missing() {
  local pkg need=()
  for pkg in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need+=("$pkg")
  done
  [ ${#need[@]} -gt 0 ] || return 0
  say "installing ${need[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
}

# What scripts/test-cluster runs, checked even when the binary is cached (a restored cache on a
# fresh machine). Any kubectl will do: one from another package (e.g. Google's `kubectl`) owns
# /usr/bin/kubectl, and Debian's kubernetes-client would clash with it.
runtime=(etcd-server openssl curl)
command -v kubectl >/dev/null 2>&1 || runtime+=(kubernetes-client)
install_missing "${runtime[@]}"

if [ -x "$BIN" ]; then
  exit 0
fi

install_missing golang-go rsync golang-github-modern-go-reflect2-dev

# Source lists, only when none are enabled yet.
has_deb_src() {
  grep -qsE '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources ||
    grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}
if ! has_deb_src; then
  say "enabling deb-src lists"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      $SUDO tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list |
      $SUDO tee /etc/apt/sources.list.d/debian-src.list >/dev/null
  else
    say "no /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list to derive deb-src from"
    exit 1
  fi
  apt_update
elif ! compgen -G '/var/lib/apt/lists/*_Sources*' >/dev/null; then
  # deb-src lists without their indexes (never updated since they were added).
  apt_update
fi

build=$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-build.XXXXXX")
trap 'chmod -R u+w "$build" 2>/dev/null; rm -rf "$build"' EXIT

say "downloading the kubernetes source package"
# As root, apt would fetch as the `_apt` user, which cannot write to the private temp dir.
sandbox=(); [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
(cd "$build" && apt-get source --download-only -qq "${sandbox[@]}" kubernetes >&2)
origs=("$build"/kubernetes_*.orig.tar.*)
orig=${origs[0]}
[ -f "$orig" ] || { say "no kubernetes_*.orig.tar.* downloaded"; exit 1; }
mkdir "$build/src"
tar -xf "$orig" -C "$build/src" --strip-components=1

say "replacing the vendored reflect2 with Debian's 1.0.2"
reflect2="$build/src/vendor/github.com/modern-go/reflect2"
rm -f "$reflect2"/*.go "$reflect2"/*.s
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$reflect2"/
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$reflect2"/ 2>/dev/null || true
rm -f "$reflect2"/*_test.go

say "building kube-apiserver (about 5 minutes, once per machine)"
(
  cd "$build/src"
  mkdir -p .go/src/k8s.io
  ln -sfn ../../.. .go/src/k8s.io/kubernetes
  GOPATH="$PWD/.go" GOCACHE="$build/gocache" GOFLAGS="" CGO_ENABLED=0 \
    make WHAT=cmd/kube-apiserver >&2
)
mkdir -p "$TOOLS/bin"
install -m 0755 "$build/src/_output/bin/kube-apiserver" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
"$BIN" --version >&2
say "cached at $BIN"
