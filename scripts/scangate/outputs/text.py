"""Small text helpers shared by the converters."""

from __future__ import annotations

import functools
import re

MARKER = " ... [truncated by scangate]"


def truncate(text: str, limit: int, marker: str = MARKER) -> str:
    """Cut ``text`` to at most ``limit`` characters, saying so, never failing."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[:limit]
    return text[: limit - len(marker)] + marker


def one_line(text: str) -> str:
    """Collapse every run of whitespace to one space, trimmed (``str.split``'s whitespace)."""
    # Most texts already are one line: checking that is several times faster than splitting a
    # description into words and joining them again, and this runs for every finding.
    if (text.isascii() and text[:1] != " " and text[-1:] != " " and "  " not in text
            and "\n" not in text and "\t" not in text and "\r" not in text
            and "\x0b" not in text and "\x0c" not in text and "\x1c" not in text
            and "\x1d" not in text and "\x1e" not in text and "\x1f" not in text):
        return text
    return " ".join(text.split())


def md_escape(text: str) -> str:
    """``text`` as plain Markdown: printable, on one line, every ASCII punctuation character
    backslash-escaped (CommonMark allows it for all of them), so no emphasis, link, heading,
    HTML or table cell break can come from it."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", one_line(printable(text)))


# ESC-introduced sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks) up to BEL or
# ST, and the two-character escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]?)")


# Tabs and line breaks become spaces (words stay apart); every other control goes.
_WHITESPACE_CONTROLS = str.maketrans("\t\n\r\x0b\x0c", "     ")


def printable(text: str) -> str:
    """``text`` without escape sequences or any character that is not printable.

    For everything a report or a policy put on a terminal or in Markdown: ANSI and OSC
    sequences could recolour, hide or rewrite lines of the log, C0/C1 controls (a bare CR) and
    bidirectional overrides could make one finding read as another.
    """
    if text.isascii() and text.isprintable():
        return text
    text = _ANSI.sub("", text).translate(_WHITESPACE_CONTROLS)
    return "".join(c for c in text if c.isprintable())


def md_code(text: str) -> str:
    """``text`` as an inline code span safe in a Markdown table cell.

    Nothing in a code span is Markdown or HTML: no heading, link, autolink, image or tag can be
    injected. The fence is one backtick longer than any run inside; ``|`` is escaped because
    GitHub's table parser splits cells before it sees spans (GFM spec, tables).
    """
    if (text and text.isascii() and text.isprintable() and "`" not in text and "|" not in text
            and text[:1] != " " and text[-1:] != " " and "  " not in text):
        return f"`{text}`"  # the common case, once per package of every rule's help
    body = one_line(printable(text)).replace("|", "\\|")
    if not body:
        return "-"
    fence = "`" * (max((len(run) for run in re.findall("`+", body)), default=0) + 1)
    if body[0] in "` " or body[-1] in "` ":
        body = f" {body} "
    return f"{fence}{body}{fence}"


# An absolute http(s) URL in RFC 3986 syntax with a plain host name: the only kind of link
# scangate writes into SARIF ``helpUri`` or Markdown. One character class (fast: this runs for
# every reference of every rule), then the two rules it cannot say: a '%' starts an escape of
# two hex digits, and there is at most one '#'.
_HTTP_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][A-Za-z0-9._~!$&'()*+,;=:@/?#%-]*)?"
)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@functools.lru_cache(maxsize=4096)
def http_url(url: str) -> str | None:
    """``url`` when it is a plain http(s) URL, else None. Cached: a finding's primary URL is
    checked for its rule and again for its result."""
    if _HTTP_URL.fullmatch(url) is None or url.count("#") > 1:
        return None
    if "%" in url and _BAD_PERCENT.search(url):
        return None
    return url


def md_link(label: str, url: str) -> str:
    """A Markdown link whose label is code and whose target is a checked http(s) URL; only the
    label when the URL is anything else (``javascript:``, a space, a ``)`` breaking out)."""
    target = http_url(url)
    if target is None:
        return md_code(label)
    target = target.replace("(", "%28").replace(")", "%29")
    return f"[{md_code(label)}]({target})"
