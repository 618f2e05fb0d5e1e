#!/usr/bin/env bash
# One lint entry point (`make lint`, ci.yml's lint job): every linter the project promises,
# each over what it understands. Exits non-zero when any of them reports anything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=.venv/bin
status=0
run() {
  printf '==> %s\n' "$*" >&2
  "$@" || status=1
}
run "$bin/ruff" check scripts tests tools benchmarks examples/user-authenticator
run "$bin/mypy"
run "$bin/actionlint"
run "$bin/zizmor" --offline --quiet .github/ actions/
run "$bin/yamllint" -s .github actions gitlab .gitlab-ci.yml .yamllint.yaml
mapfile -t shell_scripts < <(git ls-files '*.sh' .ci/run)
run shellcheck "${shell_scripts[@]}"
mapfile -t dockerfiles < <(git ls-files '*Dockerfile*' | grep -v '\.dockerignore$')
run "$bin/hadolint" "${dockerfiles[@]}"
run "$bin/python" -m tools.gendocs --check
exit "$status"
