#!/usr/bin/env bash
# The comment step of actions/comment: picks the image's newest reports artifact of this run and
# runs `scangate comment` on its summary.json. Inputs come from the environment (see
# action.yml); SCANGATE is the installed executable.
set -euo pipefail

scangate=${SCANGATE:?SCANGATE is not set: actions/setup/install.sh did not run}
output=${GITHUB_OUTPUT:-/dev/null}

if [ -z "${PR_NUMBER:-}" ]; then
  echo "::notice title=scangate comment::not a pull request: no comment (the job summary has the decision)"
  exit 0
fi
if [ "${PR_HEAD_REPOSITORY:-}" != "${GITHUB_REPOSITORY:-}" ]; then
  # A fork's pull request runs with a read-only token: it cannot comment.
  echo "::notice title=scangate comment::a pull request from a fork cannot be commented on from its own run (read-only token); the job summary has the decision; docs/review-feedback.md has the workflow_run pattern"
  exit 0
fi

# Artifacts are scangate-reports-<image>-<call>-<attempt>: one call, its newest attempt.
pattern="^scangate-reports-${INPUT_IMAGE//./\\.}-([0-9a-f]{8})-([0-9]+)\$"
best="" calls="" best_attempt=0
for dir in "${ARTIFACTS:?}"/*/; do
  [ -d "$dir" ] || continue
  name=$(basename -- "$dir")
  if [[ $name =~ $pattern ]]; then
    case " $calls " in *" ${BASH_REMATCH[1]} "*) ;; *) calls="$calls ${BASH_REMATCH[1]}" ;; esac
    if [ "${BASH_REMATCH[2]}" -gt "$best_attempt" ]; then
      best_attempt=${BASH_REMATCH[2]}
      best=$dir
    fi
  fi
done
read -r -a call_list <<<"$calls"
if [ "${#call_list[@]}" -gt 1 ]; then
  echo "::error title=scangate comment::this run gated ${INPUT_IMAGE} in ${#call_list[@]} workflow calls; give each call's comment its own job with a distinct image name"
  exit 2
fi
if [ -z "$best" ] || [ ! -f "$best/summary.json" ]; then
  echo "::warning title=scangate comment::no gate summary of ${INPUT_IMAGE} in this run (its gate errored or did not run): no comment"
  exit 0
fi

key=${INPUT_KEY:-"${WORKFLOW_NAME:-workflow} / ${INPUT_IMAGE}"}
set +e
result=$("$scangate" comment --summary "$best/summary.json" --key "$key" --platform github \
  --number "$PR_NUMBER")
code=$?
set -e
printf '%s\n' "$result"
if [ "$code" -ne 0 ]; then
  exit "$code"
fi
if [[ $result =~ comment\ ([0-9]+) ]]; then
  echo "comment-id=${BASH_REMATCH[1]}" >>"$output"
fi
