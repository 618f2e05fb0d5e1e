"""The environment gitlab-ci-local's jobs get from tests/gitlab/glci.py: nothing of the
developer's shell setup, however pytest was started."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitlab import glci

pytestmark = pytest.mark.slow  # one gitlab-ci-local run (a job of one line)


def test_jobs_never_read_the_developers_bashrc(
    gitlab_ci_local: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started with no SHLVL (a background job, a service), gitlab-ci-local's `bash -c` with
    socket stdio would read ~/.bashrc (see glci.job_env): a job must not see what it sets."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export SCANGATE_TEST_BASHRC=read\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SHLVL", raising=False)
    project = glci.make_project(
        tmp_path / "project",
        'job:\n  script:\n    - echo "bashrc:${SCANGATE_TEST_BASHRC:-unread}"\n', {})
    run = glci.run_gitlab_ci_local(project, ["--force-shell-executor", "--shell-isolation"],
                                   timeout=300)
    assert run.returncode == 0, run.describe()
    assert "bashrc:unread" in run.output, run.describe()
