#!/usr/bin/env bash
# gitlab-ci-local 4.60.1 (tests/gitlab/ runs the GitLab template through it) in a project-local
# prefix, .tools/node, installed with `npm ci` from the lockfile in tools/node/ (every package
# pinned by version and integrity hash). Idempotent: a stamp named after the lockfile's hash
# skips the install when nothing changed.
#
# 4.60.1 is the newest release that runs on Node 20 (4.7x needs Node 22). Its dependency re2 is
# a native module: it is compiled here from the integrity-checked npm sources (node-gyp, g++),
# never downloaded as a prebuilt binary, and the compile takes several minutes once.
set -euo pipefail
cd "${REPO_ROOT:?}"
prefix=.tools/node
want_version=4.60.1

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "40-node: node and npm are required (Node 18 or newer; Debian: apt-get install nodejs npm)" >&2
  exit 2
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  echo "40-node: Node $(node --version) is too old for gitlab-ci-local $want_version (needs >= 18)" >&2
  exit 2
fi
for tool in rsync git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "40-node: gitlab-ci-local needs $tool (tools/setup/10-apt.sh installs rsync)" >&2
    exit 2
  fi
done

lock_hash=$(cat tools/node/package.json tools/node/package-lock.json | sha256sum | cut -c1-16)
stamp="$prefix/.installed-$lock_hash"
bin="$prefix/node_modules/.bin/gitlab-ci-local"
if [ -f "$stamp" ] && [ -x "$bin" ]; then
  exit 0
fi

echo "40-node: installing gitlab-ci-local $want_version into $prefix (compiles re2: minutes)" >&2
rm -rf "$prefix"
mkdir -p "$prefix"
cp tools/node/package.json tools/node/package-lock.json "$prefix/"
# node-gyp needs the Node headers; Debian's nodejs ships them in /usr/include/node, which saves
# a download of the headers tarball (not reachable on offline machines).
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
# re2's installer would first try a prebuilt binary from its GitHub releases; build from source.
export DOWNLOAD_FORCE_BUILD=1
if ! (cd "$prefix" && npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1); then
  echo "40-node: npm ci failed; last lines of $prefix/npm-ci.log:" >&2
  tail -n 30 "$prefix/npm-ci.log" >&2 || true
  exit 2
fi
got=$("$bin" --version)
if [ "$got" != "$want_version" ]; then
  echo "40-node: expected gitlab-ci-local $want_version, got $got" >&2
  exit 2
fi
touch "$stamp"
