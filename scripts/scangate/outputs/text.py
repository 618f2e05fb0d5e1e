"""Small text helpers shared by the converters."""

from __future__ import annotations

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
    """Escape what breaks a Markdown table cell."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
