#!/usr/bin/env bash
# Installs scangate from the checkout this script is part of (two levels up: the repository
# root at the commit the caller pinned) into a virtualenv under RUNNER_TEMP, and writes
# `scangate=<path>` and `version=<version>` to GITHUB_OUTPUT.
#   SCANGATE_PYTHON  interpreter for the virtualenv (default: python3 on PATH); 3.11 or newer
#   SCANGATE_VENV    where the virtualenv goes (default: $RUNNER_TEMP/scangate-venv)
# Shared by actions/setup, actions/gate and actions/securityhub. Reuses a virtualenv that this
# same source already installed in this job.
set -euo pipefail

source_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
python=${SCANGATE_PYTHON:-python3}
venv=${SCANGATE_VENV:-${RUNNER_TEMP:?RUNNER_TEMP is not set: run inside GitHub Actions or set SCANGATE_VENV}/scangate-venv}
output=${GITHUB_OUTPUT:-/dev/null}

if [ ! -f "$source_dir/pyproject.toml" ] || [ ! -d "$source_dir/scripts/scangate" ]; then
  echo "::error title=scangate setup::$source_dir is not a scangate checkout (no pyproject.toml or scripts/scangate)" >&2
  exit 2
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "::error title=scangate setup::$python is missing or older than Python 3.11" >&2
  exit 2
fi

stamp="$venv/.scangate-source"
if [ -x "$venv/bin/scangate" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$source_dir" ]; then
  echo "scangate already installed from $source_dir in $venv"
else
  rm -rf "$venv"
  # pip builds scangate from this checkout; its dependencies come from the package index (pip's
  # own settings apply: PIP_INDEX_URL, PIP_FIND_LINKS, ...). --no-compile: a one-shot CLI in a
  # throwaway virtualenv imports a few modules; byte-compiling every dependency costs more.
  # Supply chain: every dependency (and the build backend) comes from requirements/runtime.lock,
  # pinned by version and hash; scangate itself is built from this checkout with no resolution.
  lock="$source_dir/requirements/runtime.lock"
  if [ ! -f "$lock" ]; then
    echo "::error title=scangate setup::$lock is missing: this checkout cannot be installed with pinned hashes" >&2
    exit 2
  fi
  common=(install --quiet --disable-pip-version-check --no-input --no-compile)
  if "$python" -c 'import sys
from pip import __version__ as v
sys.exit(0 if tuple(int(p) for p in v.split(".")[:2]) >= (22, 3) else 1)' 2>/dev/null; then
    # The interpreter's own pip installs into a virtualenv without one (no ensurepip run).
    "$python" -m venv --without-pip "$venv"
    pip=("$python" -m pip --python "$venv/bin/python")
  else
    "$python" -m venv "$venv"
    pip=("$venv/bin/python" -m pip)
  fi
  "${pip[@]}" "${common[@]}" --require-hashes -r "$lock"
  "${pip[@]}" "${common[@]}" --no-deps --no-build-isolation "$source_dir"
  printf '%s' "$source_dir" >"$stamp"
fi

version=$("$venv/bin/scangate" --version)
version=${version#scangate }
echo "installed scangate $version from $source_dir"
{
  echo "scangate=$venv/bin/scangate"
  echo "version=$version"
} >>"$output"
