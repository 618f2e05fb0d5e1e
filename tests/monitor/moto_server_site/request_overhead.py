"""Two costs moto_server pays on every request, not part of what it emulates (sampled in the
monitor's thousand-events run: about a sixth of the server's CPU together).

- ``moto.backends.list_of_moto_modules`` lists moto's package directory and stats each entry,
  for every request (werkzeug_app.get_backend_for_host): the listing is read once and kept (the
  installed package does not change while the server runs).
- werkzeug logs one line per request; the tests' server log keeps its start-up lines (the port
  tools/demo/procs.moto_server reads) and its errors, not one line per request.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from moto import backends
from werkzeug import serving

original_modules = backends.list_of_moto_modules


@functools.cache
def _modules() -> tuple[str, ...]:
    return tuple(original_modules())


def list_of_moto_modules() -> Iterable[str]:
    return _modules()


def _no_request_line(self: Any, code: int | str = "-", size: int | str = "-") -> None:
    """werkzeug's per-request access line, not written (errors still go to log_error)."""


def install() -> None:
    backends.list_of_moto_modules = list_of_moto_modules
    serving.WSGIRequestHandler.log_request = _no_request_line  # type: ignore[method-assign]
