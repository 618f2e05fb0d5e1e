#!/usr/bin/env bash
# The pick step of actions/latest-artifact: of ATTEMPTS/<prefix>-<n>/ keep the highest n that is
# not above this run attempt (GITHUB_RUN_ATTEMPT), copy it to INPUT_PATH, write found/name to
# GITHUB_OUTPUT. A name with a higher attempt was not written by any job of this attempt or an
# earlier one (a stale or planted artifact): it is never used. Other names that share the
# prefix (another image whose name starts with this one's) never match: the suffix must be
# digits only.
set -euo pipefail

output=${GITHUB_OUTPUT:-/dev/null}
prefix=${INPUT_PREFIX:?}
dest=${INPUT_PATH:?}
current=${GITHUB_RUN_ATTEMPT:?}
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
    if [ "$attempt" -gt "$current" ]; then
      echo "::warning title=scangate::ignoring artifact $name: its attempt is above this run's attempt $current"
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
