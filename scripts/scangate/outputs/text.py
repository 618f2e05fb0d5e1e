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
    return " ".join(text.split())


def md_escape(text: str) -> str:
    """Escape what breaks a Markdown table cell."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
