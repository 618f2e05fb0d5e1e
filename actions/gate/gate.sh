#!/usr/bin/env bash
# The gate step of actions/gate: runs `scangate gate` once, never lets its exit code end the
# step (the uploads that follow must run pass or fail), copies the input reports beside the
# outputs, and writes the step outputs. Inputs come from the environment (INPUT_*), set by
# action.yml from the action's inputs; SCANGATE is the installed executable.
set -euo pipefail

scangate=${SCANGATE:?SCANGATE is not set: actions/setup/install.sh did not run}
output=${GITHUB_OUTPUT:-/dev/null}
out_dir=${INPUT_OUTPUT_DIR:-${RUNNER_TEMP:?}/scangate-reports}
mkdir -p "$out_dir"
out_dir=$(cd -- "$out_dir" && pwd)

args=(gate)
reports=()
while IFS= read -r line; do
  line=${line%$'\r'}
  [ -n "${line//[[:space:]]/}" ] || continue
  reports+=("$line")
  args+=(--report "$line")
done <<<"${INPUT_REPORTS:-}"
if [ "${#reports[@]}" -eq 0 ]; then
  echo "::error title=scangate gate::the reports input names no file"
  echo "exit-code=2" >>"$output"
  echo "decision=error" >>"$output"
  exit 0
fi
if [ -n "${INPUT_POLICY:-}" ]; then
  args+=(--policy "$INPUT_POLICY")
fi
if [ -n "${INPUT_THRESHOLDS_FROM_SSM:-}" ]; then
  args+=(--thresholds-from-ssm "$INPUT_THRESHOLDS_FROM_SSM")
fi
if [ -n "${INPUT_FAIL_ON:-}" ]; then
  args+=(--fail-on "$INPUT_FAIL_ON")
fi
for severity in critical high medium low unknown; do
  var="INPUT_MAX_${severity^^}"
  if [ -n "${!var:-}" ]; then
    args+=("--max-$severity" "${!var}")
  fi
done
case "${INPUT_IGNORE_UNFIXED:-false}" in
  true) args+=(--ignore-unfixed) ;;
  false | "") ;;
  *)
    echo "::error title=scangate gate::ignore-unfixed must be true or false, not '${INPUT_IGNORE_UNFIXED}'"
    echo "exit-code=2" >>"$output"
    echo "decision=error" >>"$output"
    exit 0
    ;;
esac
while IFS= read -r line; do
  line=${line%$'\r'}
  [ -n "${line//[[:space:]]/}" ] || continue
  args+=(--sarif-category "$line")
done <<<"${INPUT_SARIF_CATEGORY:-}"
if [ -n "${INPUT_DOCKERFILE:-}" ]; then
  args+=(--dockerfile "$INPUT_DOCKERFILE")
fi
if { [ -n "${INPUT_BASELINE:-}" ] && [ -n "${INPUT_BASELINE_BRANCH:-}" ]; } ||
  { [ -n "${INPUT_BASELINE_BRANCH:-}" ] && [ -z "${INPUT_BASELINE_IMAGE:-}" ]; } || [[ ! "${INPUT_BASELINE_RUN:-newest}" =~ ^(newest|deployed)$ ]]; then
  echo "::error title=scangate gate::give baseline or baseline-branch (with baseline-image), not both; baseline-run is newest or deployed"
  echo "exit-code=2" >>"$output"
  echo "decision=error" >>"$output"
  exit 0
fi
if [ -n "${INPUT_BASELINE_BRANCH:-}" ]; then
  # Nothing found is a warning and no file; the gate then counts every finding and says so.
  rm -f -- "$out_dir/baseline-summary.json"
  GITHUB_TOKEN=${SCANGATE_FETCH_TOKEN:-} "$scangate" fetch-baseline --platform github \
    --branch "$INPUT_BASELINE_BRANCH" --image "$INPUT_BASELINE_IMAGE" --from-run "${INPUT_BASELINE_RUN:-newest}" \
    --output "$out_dir/baseline-summary.json" ||
    echo "::warning title=scangate baseline::fetch-baseline failed (see above): every finding counts"
  args+=(--baseline "$out_dir/baseline-summary.json")
elif [ -n "${INPUT_BASELINE:-}" ]; then
  args+=(--baseline "$INPUT_BASELINE")
fi
case "${INPUT_FETCH_FEEDS:-false}" in
  true)
    INPUT_FEEDS_DIR=${INPUT_FEEDS_DIR:-${RUNNER_TEMP:?}/scangate-feeds}
    # A failed download is a warning: a policy with kev:/epss: rules then stops the gate with an
    # error (the feed is missing or too old), and one without them only shows less.
    if "$scangate" feeds fetch --dir "$INPUT_FEEDS_DIR" --max-cache-age 24; then
      echo "feeds-fetched=true" >>"$output"
    else
      echo "::warning title=scangate feeds::feeds fetch failed (see above): a policy that rules on KEV or EPSS will stop the gate"
    fi
    ;;
  false | "") ;;
  *)
    echo "::error title=scangate gate::fetch-feeds must be true or false, not '${INPUT_FETCH_FEEDS}'"
    echo "exit-code=2" >>"$output"
    echo "decision=error" >>"$output"
    exit 0
    ;;
esac
if [ -n "${INPUT_FEEDS_DIR:-}" ]; then
  args+=(--feeds-dir "$INPUT_FEEDS_DIR")
fi
summary_json="$out_dir/summary.json"
sarif="$out_dir/scangate.sarif"
args+=(--json-summary "$summary_json" --sarif "$sarif" --sarif-overflow "${INPUT_SARIF_OVERFLOW:-refuse}" --summary-md "$out_dir/summary.md")

set +e
"$scangate" "${args[@]}"
code=$?
set -e

# The inputs travel with the outputs, so the artifact is the whole record of this decision.
mkdir -p "$out_dir/reports"
index=0
for report in "${reports[@]}"; do
  index=$((index + 1))
  if [ -f "$report" ]; then
    cp -- "$report" "$out_dir/reports/$index-$(basename -- "$report")"
  fi
done

case "$code" in
  0) decision=pass ;;
  1) decision=fail ;;
  *) decision=error ;;
esac
{
  echo "exit-code=$code"
  echo "decision=$decision"
  echo "output-dir=$out_dir"
} >>"$output"
if [ "$decision" != error ] && [ -f "$summary_json" ]; then
  {
    echo "counts=$(jq -c '.counts' "$summary_json")"
    for severity in critical high medium low unknown; do
      echo "$severity=$(jq -r --arg s "$severity" '.counts[$s] // 0' "$summary_json")"
    done
    echo "summary-json=$summary_json"
  } >>"$output"
  if [ -f "$sarif" ]; then
    echo "sarif=$sarif" >>"$output"
  fi
fi
echo "scangate gate: $decision (exit $code)"
