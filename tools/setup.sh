#!/usr/bin/env bash
# Sets up everything the demo and the tests need on a fresh machine, idempotently:
# runs tools/setup/NN-*.sh in order. Each script owns one piece (Python venv, Debian
# packages, Docker engine, registry, base image, Node tools) and is safe to run twice.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO_ROOT="$repo_root"
for step in "$repo_root"/tools/setup/[0-9][0-9]-*.sh; do
  printf '==> setup: %s\n' "$(basename "$step")" >&2
  bash "$step"
done
