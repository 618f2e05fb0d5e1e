"""The tags the pipelines give pushed images: the one format the ECR lifecycle rules act on.

``ENV-SHA-RUN-ATTEMPT``, e.g. ``prod-0123456789abcdef0123456789abcdef01234567-42-1``:

- ENV is one of :data:`ENVIRONMENTS`. Its prefix (``prod-``, ``staging-``, ``dev-``) is what
  the lifecycle rules of templates/aws and templates/terraform select on (``tagPrefixList``):
  prod keeps the newest 10, staging the newest 5, dev expires after 7 days.
- SHA is the commit (7..40 hex digits), RUN and ATTEMPT the CI run and its attempt (GitHub:
  github.run_id, github.run_attempt; GitLab: CI_PIPELINE_ID, CI_JOB_ID). The repository's tags are
  immutable, so a re-run must not reuse a tag: the attempt makes every push's tag new.

The GitHub workflow and the GitLab template get the tag from ``scangate image-tag`` so the
format lives here only; tests/templates check every lifecycle rule against tags made here.
"""

from __future__ import annotations

import re

from scangate.errors import UsageError

# environment -> the tag prefix the lifecycle rule of that environment selects.
ENVIRONMENTS = {"prod": "prod-", "staging": "staging-", "dev": "dev-"}
TAG_MAX = 128  # a Docker/OCI tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
_SHA = re.compile(r"[0-9a-f]{7,40}")
_NUMBER = re.compile(r"[0-9]{1,20}")
TAG = re.compile(
    r"(?P<environment>" + "|".join(ENVIRONMENTS) + r")-(?P<sha>[0-9a-f]{7,40})-"
    r"(?P<run>[0-9]{1,20})-(?P<attempt>[0-9]{1,20})"
)


def image_tag(environment: str, sha: str, run: str, attempt: str = "1") -> str:
    """The tag of one push; every part is checked (these come from CI variables)."""
    if environment not in ENVIRONMENTS:
        raise UsageError(f"--environment {environment!r} is not one of "
                         f"{', '.join(ENVIRONMENTS)} (the lifecycle rules act on these prefixes)")
    sha = sha.strip().lower()
    if not _SHA.fullmatch(sha):
        raise UsageError(f"--sha {sha!r} is not a commit id (7 to 40 hex digits)")
    for flag, value in (("--run", run), ("--attempt", attempt)):
        if not _NUMBER.fullmatch(value.strip()):
            raise UsageError(f"{flag} {value!r} is not a run number (digits only)")
    tag = f"{ENVIRONMENTS[environment]}{sha}-{run.strip()}-{attempt.strip()}"
    assert len(tag) <= TAG_MAX  # 7 + 1 + 40 + 1 + 20 + 1 + 20 < 128
    return tag


def environment_of(tag: str) -> str | None:
    """The environment a pipeline tag was pushed for; None when it is not a pipeline tag."""
    match = TAG.fullmatch(tag)
    return match["environment"] if match else None
