#!/usr/bin/env bash
# The install step of actions/trivy: a Trivy release tarball, from the cache directory (restored
# by the action, untrusted) or downloaded, is used only when its sha256 is the pinned one
# (checksums.txt beside this script, or INPUT_SHA256). Writes `trivy=<path>` to GITHUB_OUTPUT.
#   INPUT_VERSION       Trivy version (`0.70.0` or `v0.70.0`)
#   INPUT_SHA256        expected sha256 of the tarball; empty: the one in checksums.txt
#   INPUT_DOWNLOAD_URL  base URL of the releases (GHES / mirrors); the checksum still decides
#   SCANGATE_TRIVY_DIR  where the tarball is kept (the cached directory) and the binary goes
set -euo pipefail

output=${GITHUB_OUTPUT:-/dev/null}
dir=${SCANGATE_TRIVY_DIR:?SCANGATE_TRIVY_DIR is not set}
version=${INPUT_VERSION#v}
fail() {
  echo "::error title=scangate trivy::$1"
  exit 2
}

[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "trivy-version must be a release version like 0.70.0 (got '${INPUT_VERSION:-}'); never 'latest'"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) platform=Linux-64bit ;;
  Linux-aarch64 | Linux-arm64) platform=Linux-ARM64 ;;
  *) fail "no Trivy release is pinned for $(uname -s) $(uname -m)" ;;
esac
asset="trivy_${version}_${platform}.tar.gz"
expected=${INPUT_SHA256:-}
if [ -z "$expected" ]; then
  expected=$(awk -v v="$version" -v a="$asset" '$1 == v && $2 == a { print $3 }' \
    "$(dirname -- "${BASH_SOURCE[0]}")/checksums.txt")
fi
if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
  fail "no pinned sha256 for $asset: pass trivy-sha256 (from trivy_${version}_checksums.txt of the release) or use a version listed in actions/trivy/checksums.txt"
fi

mkdir -p "$dir"
tarball="$dir/$asset"
if [ -f "$tarball" ]; then
  actual=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [ "$actual" != "$expected" ]; then
    # A restored cache is untrusted input: a mismatch is an attack or a corruption, never a
    # reason to run that file. Fail closed and say how to recover.
    fail "the cached $asset has sha256 $actual, not the pinned $expected: the cache is corrupted or poisoned. Delete the Actions cache entry (or run with cache: false); nothing was run"
  fi
  echo "using the cached $asset (sha256 verified)"
else
  base=${INPUT_DOWNLOAD_URL:-https://github.com/aquasecurity/trivy/releases/download}
  url="${base%/}/v$version/$asset"
  if ! curl --fail --silent --show-error --location --retry 3 --retry-delay 2 \
    --output "$tarball.part" "$url"; then
    rm -f "$tarball.part"
    fail "could not download Trivy $version from $url; the scan fails closed (set trivy-download-url to a reachable mirror)"
  fi
  actual=$(sha256sum "$tarball.part" | cut -d' ' -f1)
  if [ "$actual" != "$expected" ]; then
    rm -f "$tarball.part"
    fail "$url has sha256 $actual, not the pinned $expected; refusing to run it"
  fi
  mv "$tarball.part" "$tarball"
  echo "downloaded $asset (sha256 verified)"
fi

bin="$dir/bin"
rm -rf "$bin"
mkdir -p "$bin"
tar -xzf "$tarball" -C "$bin" trivy || fail "$asset has no trivy binary"
chmod 0755 "$bin/trivy"
"$bin/trivy" --version >/dev/null || fail "the verified Trivy $version does not run on this runner"
echo "trivy=$bin/trivy" >>"$output"
