#!/usr/bin/env bash
# After the SARIF upload of actions/gate: says in the step summary where the SARIF is. A failed
# upload (UPLOAD_OUTCOME=failure) is a warning, never an error: the gate's decision alone fails
# the job. UPLOAD_OUTCOME is empty when the upload was not asked for.
set -euo pipefail

summary=${GITHUB_STEP_SUMMARY:-/dev/null}
case "${UPLOAD_OUTCOME:-}" in
  success)
    echo "SARIF uploaded to code scanning: ${SARIF}"
    ;;
  failure)
    message="the SARIF upload to code scanning failed (private repositories need GitHub Code Security; fork and Dependabot pull requests get a read-only token). The gate's decision is unaffected; the SARIF is in the '${ARTIFACT_NAME}' artifact. Set upload-sarif: false to skip the upload."
    echo "::warning title=scangate code scanning::$message"
    {
      echo ""
      echo "> [!WARNING]"
      echo "> Code scanning: $message"
    } >>"$summary"
    ;;
  *)
    echo "SARIF not uploaded (upload-sarif is not true); it is in the '${ARTIFACT_NAME}' artifact"
    ;;
esac
