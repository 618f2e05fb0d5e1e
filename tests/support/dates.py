"""Waiver expiry dates for tests: within the policy's default max_waiver_days (90) of the day
the gate runs, which a fixed far-future date (2999) no longer is."""

from __future__ import annotations

import datetime as dt

_TODAY = dt.datetime.now(dt.UTC).date()
SOON = (_TODAY + dt.timedelta(days=30)).isoformat()
LATER = (_TODAY + dt.timedelta(days=60)).isoformat()
