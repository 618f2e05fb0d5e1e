#!/usr/bin/env bash
# The import step of actions/securityhub: `scangate securityhub` with the action's inputs, which
# come from the environment (INPUT_*); SCANGATE is the installed executable. scangate's exit code
# is the step's: 0 every finding imported, 2 otherwise (it lists the failed ones).
set -euo pipefail

scangate=${SCANGATE:?SCANGATE is not set: actions/setup/install.sh did not run}
output=${GITHUB_OUTPUT:-/dev/null}

flag() {
  # flag NAME VALUE: `true` adds --NAME, `false` or empty adds nothing, anything else is an error.
  case "$2" in
    true) args+=("--$1") ;;
    false | "") ;;
    *)
      echo "::error title=scangate securityhub::$1 must be true or false, not '$2'"
      exit 2
      ;;
  esac
}

args=(securityhub)
count=0
while IFS= read -r line; do
  line=${line%$'\r'}
  [ -n "${line//[[:space:]]/}" ] || continue
  args+=(--report "$line")
  count=$((count + 1))
done <<<"${INPUT_REPORTS:-}"
if [ "$count" -eq 0 ]; then
  echo "::error title=scangate securityhub::the reports input names no file"
  exit 2
fi
if [ -n "${INPUT_REGION:-}" ]; then
  args+=(--region "$INPUT_REGION")
fi
if [ -n "${INPUT_ACCOUNT_ID:-}" ]; then
  args+=(--account-id "$INPUT_ACCOUNT_ID")
fi
if [ -n "${INPUT_PRODUCT_ARN:-}" ]; then
  args+=(--product-arn "$INPUT_PRODUCT_ARN")
fi
if [ -n "${INPUT_PUSH_RESULT:-}" ]; then
  args+=(--push-result "$INPUT_PUSH_RESULT")
fi
if [ -n "${INPUT_REPOSITORY:-}" ]; then
  args+=(--repository "$INPUT_REPOSITORY")
fi
flag archive-missing "${INPUT_ARCHIVE_MISSING:-false}"
flag dry-run "${INPUT_DRY_RUN:-false}"
asff=${INPUT_ASFF_OUT:-${RUNNER_TEMP:?}/scangate-asff.json}
args+=(--asff-out "$asff")

"$scangate" "${args[@]}"
echo "asff=$asff" >>"$output"
