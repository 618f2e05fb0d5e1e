#!/usr/bin/env bash
# The pick step of actions/latest-artifact: of ATTEMPTS/<prefix>-<n>/ keep the highest n, copy it
# to INPUT_PATH, write found/name to GITHUB_OUTPUT. Other names that share the prefix (another
# image whose name starts with this one's) never match: the suffix must be digits only.
set -euo pipefail

output=${GITHUB_OUTPUT:-/dev/null}
prefix=${INPUT_PREFIX:?}
dest=${INPUT_PATH:?}
best=""
best_attempt=0
if [ -d "${ATTEMPTS:?}" ]; then
  for dir in "$ATTEMPTS"/*/; do
    [ -d "$dir" ] || continue
    name=$(basename -- "$dir")
    attempt=${name#"$prefix"-}
    if [ "$attempt" = "$name" ] || ! [[ "$attempt" =~ ^[0-9]+$ ]]; then
      continue
    fi
    if [ "$attempt" -gt "$best_attempt" ]; then
      best=$name
      best_attempt=$attempt
    fi
  done
fi
if [ -z "$best" ]; then
  echo "no artifact $prefix-<attempt> in this run"
  {
    echo "found=false"
    echo "name="
  } >>"$output"
  exit 0
fi
mkdir -p "$dest"
cp -a "$ATTEMPTS/$best/." "$dest/"
echo "using artifact $best"
{
  echo "found=true"
  echo "name=$best"
} >>"$output"
