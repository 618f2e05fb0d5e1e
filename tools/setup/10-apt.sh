#!/usr/bin/env bash
# Debian packages the tests and the demo need. Idempotent and fast on re-runs: apt is only
# touched when a package is missing (apt-get update alone takes tens of seconds).
#   - docker.io: dockerd 20.10 + client (no public registry here: base images are made locally)
#   - debootstrap: builds the local base image's root file system (tools/setup/30-docker.sh)
#   - docker-registry: distribution v2, stands in for ECR's data plane on 127.0.0.1:5000
#   - rsync: gitlab-ci-local copies the work tree with it
#   - the shellcheck linter: tools/*.sh and the workflows' bash steps
#   - curl: readiness probes of dockerd and the registry in shell scripts
#   - jq: the workflows' bash steps and the act stand-ins read JSON with it
#   - buildah: the GitLab template's `docker-mode: buildah` build, run for real by
#     tests/gitlab/test_buildah.py (Debian's package, signed by Debian's archive)
#   - g++, make: gitlab-ci-local's native re2 module is compiled on install
#     (its prebuilt binaries are downloaded from a host these machines cannot reach)
set -euo pipefail
packages=(
  buildah
  ca-certificates
  curl
  debootstrap
  docker.io
  docker-registry
  g++
  jq
  make
  rsync
  shellcheck
)
missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
else
  sudo_cmd=()
fi
printf 'installing Debian packages: %s\n' "${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
