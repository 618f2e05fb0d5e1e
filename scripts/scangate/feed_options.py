"""The risk-feed flags (``--kev``, ``--epss``, ``--feeds-dir``) of the commands that read
findings, and the one rule for loading them against a policy."""

from __future__ import annotations

import argparse
import datetime as dt
import os

from scangate.errors import FeedError
from scangate.feeds import (
    EPSS_FILE,
    KEV_FILE,
    EpssFeed,
    KevCatalog,
    check_age,
    load_epss,
    load_kev,
)
from scangate.policy import Policy


def add_feed_arguments(parser: argparse.ArgumentParser) -> None:
    feeds = parser.add_argument_group("risk feeds (for the policy's kev: and epss: rules, and "
                                      "to show KEV and EPSS in the outputs)")
    feeds.add_argument("--kev", metavar="FILE",
                       help="CISA KEV catalog (JSON), e.g. for air-gapped runs")
    feeds.add_argument("--epss", metavar="FILE",
                       help="FIRST EPSS scores (CSV, plain or gzipped), e.g. for air-gapped runs")
    feeds.add_argument("--feeds-dir", metavar="DIR",
                       help=f"directory `scangate feeds fetch` filled ({KEV_FILE}, {EPSS_FILE}); "
                       "--kev and --epss take precedence")


def _path(given: str | None, feeds_dir: str | None, name: str) -> str | None:
    if given:
        return str(given)
    return os.path.join(feeds_dir, name) if feeds_dir else None


def load_feeds(args: argparse.Namespace, policy: Policy,
               now: dt.datetime | None = None) -> tuple[KevCatalog | None, EpssFeed | None]:
    """The feeds given, each read in full. A feed the policy rules on must be given and no older
    than the policy allows: a gate that skipped it would pass what it exists to stop. A feed
    named explicitly is read (and must be valid) even when only the outputs show it; one in
    --feeds-dir that is absent is then simply not shown."""
    now = now or dt.datetime.now(dt.UTC)
    kev_path = _path(args.kev, args.feeds_dir, KEV_FILE)
    epss_path = _path(args.epss, args.feeds_dir, EPSS_FILE)
    if policy.needs_kev and kev_path is None:
        raise FeedError(f"{policy.source}: the policy fails on CISA KEV (kev:) but no catalog "
                        "was given: pass --kev FILE or --feeds-dir DIR (scangate feeds fetch)")
    if policy.needs_epss and epss_path is None:
        raise FeedError(f"{policy.source}: the policy has EPSS limits (epss:) but no scores "
                        "were given: pass --epss FILE or --feeds-dir DIR (scangate feeds fetch)")
    kev = epss = None
    if kev_path is not None and (policy.needs_kev or args.kev or os.path.lexists(kev_path)):
        kev = load_kev(kev_path)
        if policy.needs_kev:
            check_age("KEV catalog", kev_path, kev.released, policy.kev_max_age_days, now)
    if epss_path is not None and (policy.needs_epss or args.epss or os.path.lexists(epss_path)):
        epss = load_epss(epss_path)
        if policy.needs_epss:
            check_age("EPSS file", epss_path, epss.score_date, policy.epss_max_age_days, now)
    return kev, epss
