#!/usr/bin/env bash
# Template validators that cannot live in .venv, in a virtualenv of their own
# (.tools/checkov-venv), used by tests/templates:
# - checkov: its pinned dependencies (an older boto3, networkx and packaging) conflict with moto
#   and boto3 in .venv;
# - cloudcoil-models-kyverno: Kyverno's CRD models (Kyverno 1.13.4), to validate the Kyverno
#   policy; cloudcoil registers a pytest plugin that must not load into the project's pytest.
set -euo pipefail
cd "${REPO_ROOT:?}"
checkov_version=3.3.30
kyverno_models_version=1.13.4.0
venv=.tools/checkov-venv
stamp="$venv/.installed-checkov-$checkov_version-kyverno-$kyverno_models_version"
if [ -f "$stamp" ] && [ -x "$venv/bin/checkov" ]; then
  exit 0
fi
rm -rf "$venv"
mkdir -p .tools
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet \
  "checkov==$checkov_version" "cloudcoil-models-kyverno==$kyverno_models_version"
"$venv/bin/checkov" --version >/dev/null
"$venv/bin/python" -c "import cloudcoil.models.kyverno.v1"
touch "$stamp"
