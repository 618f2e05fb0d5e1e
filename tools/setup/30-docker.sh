#!/usr/bin/env bash
# The local container peers the tests and the demo use, started only when missing:
#   1. a Docker engine (dockerd without iptables or a bridge: these machines cannot set up NAT,
#      so builds and runs use `--network host`);
#   2. a distribution v2 registry on 127.0.0.1:5000 (stands in for ECR's data plane);
#   3. the local base image scangate.local/python-base:bookworm (Debian 12 minbase + python3),
#      because no public registry is reachable here. Dockerfiles take it through BASE_IMAGE.
# Daemons are started with setsid/nohup so they outlive this script (pytest needs them later);
# their logs and state live under .tools/ (git-ignored).
set -euo pipefail
cd "${REPO_ROOT:?}"
tools_dir="$PWD/.tools"
mkdir -p "$tools_dir"

base_image="scangate.local/python-base:bookworm"
registry_addr="127.0.0.1:5000"

# Wait up to $1 seconds for the command in "$@" (after $1) to succeed.
wait_for() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.5
  done
}

# --- 1. Docker engine -------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "30-docker: dockerd not found; tools/setup/10-apt.sh installs docker.io" >&2
    exit 2
  fi
  # A pid file left by a dockerd that died (e.g. the machine was restarted) blocks a new one.
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
  fi
  echo "30-docker: starting dockerd (log: .tools/dockerd.log)" >&2
  # No iptables rules and no default bridge: these machines cannot set either up, so builds
  # and runs use `--network host` (see ../shared/notes/local-toolchain.md).
  setsid nohup dockerd --iptables=false --ip6tables=false --bridge=none \
    >"$tools_dir/dockerd.log" 2>&1 </dev/null &
  if ! wait_for 60 docker info; then
    echo "30-docker: dockerd did not answer within 60 s; see .tools/dockerd.log:" >&2
    tail -n 20 "$tools_dir/dockerd.log" >&2 || true
    exit 2
  fi
fi

# --- 2. Registry on 127.0.0.1:5000 ------------------------------------------------------------
if ! curl -fsS --max-time 2 "http://$registry_addr/v2/" >/dev/null 2>&1; then
  if ! command -v docker-registry >/dev/null 2>&1; then
    echo "30-docker: docker-registry not found; tools/setup/10-apt.sh installs it" >&2
    exit 2
  fi
  # Our own config (the Debian default wants htpasswd auth and listens on every interface).
  mkdir -p "$tools_dir/registry/data"
  cat >"$tools_dir/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $tools_dir/registry/data
  delete:
    enabled: true
http:
  addr: $registry_addr
YAML
  echo "30-docker: starting docker-registry on $registry_addr (log: .tools/registry.log)" >&2
  setsid nohup docker-registry serve "$tools_dir/registry/config.yml" \
    >"$tools_dir/registry.log" 2>&1 </dev/null &
  if ! wait_for 30 curl -fsS --max-time 2 "http://$registry_addr/v2/"; then
    echo "30-docker: registry did not answer on $registry_addr; see .tools/registry.log:" >&2
    tail -n 20 "$tools_dir/registry.log" >&2 || true
    exit 2
  fi
fi

# --- 3. Local base image ----------------------------------------------------------------------
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  rootfs_tar="$tools_dir/python-base-bookworm.rootfs.tar"
  if [ ! -s "$rootfs_tar" ]; then
    # The machine's own Debian mirror (the only one reachable here).
    mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' \
      /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$mirror" ]; then
      echo "30-docker: no Debian mirror in /etc/apt/sources.list.d/debian.sources" >&2
      exit 2
    fi
    # Leftovers of an interrupted run (never one still mounted: debootstrap mounts /proc).
    for old in "$tools_dir"/rootfs.*; do
      if [ -d "$old" ] && ! grep -q " $old/" /proc/mounts; then
        rm -rf "$old"
      fi
    done
    rootfs=$(mktemp -d "$tools_dir/rootfs.XXXXXX")
    echo "30-docker: debootstrap bookworm from $mirror (about a minute)" >&2
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "$mirror" >"$tools_dir/debootstrap.log" 2>&1 || {
      echo "30-docker: debootstrap failed; see .tools/debootstrap.log" >&2
      rm -rf "$rootfs"
      exit 2
    }
    # Downloaded .debs are not part of an image; the apt lists stay so `apt-get install` works.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/debootstrap
    # Write to a temp name first so an interrupted run never leaves a truncated cache.
    tar --numeric-owner -C "$rootfs" -cf "$rootfs_tar.tmp" .
    mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$rootfs"
  fi
  echo "30-docker: importing $base_image" >&2
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$rootfs_tar" "$base_image" >/dev/null
fi
