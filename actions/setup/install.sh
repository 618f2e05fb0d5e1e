#!/usr/bin/env bash
# Installs scangate from the checkout this script is part of (two levels up: the repository
# root at the commit the caller pinned) into a virtualenv under RUNNER_TEMP, and writes
# `scangate=<path>` and `version=<version>` to GITHUB_OUTPUT.
#   SCANGATE_PYTHON  interpreter for the virtualenv (default: python3 on PATH); 3.11 or newer
#   SCANGATE_VENV    where the virtualenv goes (default: $RUNNER_TEMP/scangate-venv); it must
#                    be the job's own: the stamp below says what it was built from, it does not
#                    protect it from whoever else can write there
# Shared by scangate's actions. Reuses a virtualenv that the same source already installed in
# this job (see source_id below).
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

# Supply chain: every dependency (and the build backend) comes from requirements/runtime.lock,
# pinned by version and hash; scangate itself is built from this checkout with no resolution.
lock="$source_dir/requirements/runtime.lock"
if [ ! -f "$lock" ]; then
  echo "::error title=scangate setup::$lock is missing: this checkout cannot be installed with pinned hashes" >&2
  exit 2
fi
# What the virtualenv is made of: the interpreter, the package's files, its metadata and its lock
# (not the build's leftovers: pip writes build/ and *.egg-info here). A virtualenv is reused only
# if made of the same bytes; not by path, since a runner may unpack each action of one commit on
# its own (act does).
source_id=$(cd "$source_dir" && { "$python" -VV; find pyproject.toml requirements/runtime.lock scripts/scangate -type f ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum)
stamp="$venv/.scangate-source"
if [ -x "$venv/bin/scangate" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$source_id" ]; then
  echo "scangate already installed from the same source ($source_dir) in $venv"
else
  rm -rf "$venv"
  # pip builds scangate from this checkout; its dependencies come from the package index (pip's
  # own settings apply: PIP_INDEX_URL, PIP_FIND_LINKS, ...). --no-compile: a one-shot CLI in a
  # throwaway virtualenv imports a few modules; byte-compiling every dependency costs more.
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
  printf '%s' "$source_id" >"$stamp"
fi

version=$("$venv/bin/scangate" --version)
version=${version#scangate }
echo "installed scangate $version from $source_dir"
printf 'scangate=%s\nversion=%s\n' "$venv/bin/scangate" "$version" >>"$output"
