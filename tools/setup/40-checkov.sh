#!/usr/bin/env bash
# Template validators that cannot live in .venv, in a virtualenv of their own
# (.tools/checkov-venv), used by tests/templates; why they are apart is in requirements/checkov.in.
# Every package comes from the hash-pinned requirements/checkov.lock (--require-hashes --no-deps).
set -euo pipefail
cd "${REPO_ROOT:?}"
venv=.tools/checkov-venv
lock=requirements/checkov.lock
stamp="$venv/.installed-$(sha256sum "$lock" | cut -c1-16)"
if [ -f "$stamp" ] && [ -x "$venv/bin/checkov" ]; then
  exit 0
fi
rm -rf "$venv"
mkdir -p .tools
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-hashes --no-deps -r "$lock"
"$venv/bin/python" -m pip check >/dev/null
"$venv/bin/checkov" --version >/dev/null
"$venv/bin/python" -c "import cloudcoil.models.kyverno.v1"
touch "$stamp"
