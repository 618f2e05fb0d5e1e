"""Text helpers: the fast path of one_line must agree with its definition on every input."""

from __future__ import annotations

import random

from scangate.outputs.text import one_line, truncate

# Every character str.split() treats as whitespace, some that it does not, and plain letters.
ALPHABET = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2000\u2028\u3000\u200bab-"


def test_one_line_is_split_and_join() -> None:
    rng = random.Random(20261123)
    for _ in range(50_000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 10)))
        assert one_line(text) == " ".join(text.split()), repr(text)


def test_one_line_keeps_a_clean_line_as_is() -> None:
    text = "already one line, with punctuation: (a) [b] {c}"
    assert one_line(text) is text


def test_truncate_says_so() -> None:
    assert truncate("abc", 5) == "abc"
    cut = truncate("x" * 100, 40)
    assert len(cut) == 40 and cut.endswith("[truncated by scangate]")
