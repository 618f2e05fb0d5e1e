#!/usr/bin/env bash
# checkov in a virtualenv of its own (.tools/checkov-venv): its pinned dependencies (an older
# boto3, networkx and packaging) conflict with moto and boto3 in .venv, so it cannot live in
# requirements/*.txt. Tests (tests/templates/) call .tools/checkov-venv/bin/checkov.
set -euo pipefail
cd "${REPO_ROOT:?}"
checkov_version=3.3.30
venv=.tools/checkov-venv
stamp="$venv/.installed-checkov-$checkov_version"
if [ -f "$stamp" ] && [ -x "$venv/bin/checkov" ]; then
  exit 0
fi
rm -rf "$venv"
mkdir -p .tools
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "checkov==$checkov_version"
"$venv/bin/checkov" --version >/dev/null
touch "$stamp"
