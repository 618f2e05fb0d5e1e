"""``scangate feeds fetch``: download CISA KEV and FIRST EPSS into a cache directory that
``gate --feeds-dir`` reads (pipelines keep it for a day)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from scangate.errors import EXIT_PASS
from scangate.feeds_fetch import EPSS_URL, KEV_URL, fetch, fresh_cache


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "feeds",
        help="risk feeds for the policy's kev: and epss: rules",
        description="Risk feeds (CISA KEV, FIRST EPSS) for the policy's kev: and epss: rules.",
    )
    actions = parser.add_subparsers(dest="feeds_action", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    fetch_parser = actions.add_parser(
        "fetch", help="download and check both feeds into a directory",
        description="Download the KEV catalog and the EPSS scores over HTTPS, check each in "
        "full as the gate reads it, refuse one older than the cached copy, and replace the "
        "cached files atomically. Exit 0 when both were stored, 2 otherwise (the cache is "
        "then left as it was).")
    fetch_parser.add_argument("--dir", required=True, metavar="DIR",
                              help="the feeds directory (gate --feeds-dir DIR)")
    fetch_parser.add_argument("--kev-url", default=KEV_URL, metavar="URL",
                              help="KEV catalog URL (a mirror); default CISA's")
    fetch_parser.add_argument("--epss-url", default=EPSS_URL, metavar="URL",
                              help="EPSS scores URL (a mirror); default FIRST's")
    fetch_parser.add_argument("--max-cache-age", type=float, default=0.0, metavar="HOURS",
                              help="download nothing when both feeds in DIR are complete and "
                              "were fetched less than HOURS ago (default 0: always download)")
    fetch_parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                              help="per download (default 60)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.max_cache_age > 0 and fresh_cache(args.dir, args.max_cache_age,
                                              dt.datetime.now(dt.UTC)):
        print(f"scangate: feeds: {args.dir}: both feeds fetched less than {args.max_cache_age:g} "
              "hours ago; kept", file=sys.stderr)
        return EXIT_PASS
    for item in fetch(args.dir, args.kev_url, args.epss_url, args.timeout):
        print(f"scangate: feeds: {item.name}: {item.path} ({item.detail}; published "
              f"{item.published.isoformat()}; {item.size} bytes, sha256 {item.sha256})",
              file=sys.stderr)
    return EXIT_PASS
