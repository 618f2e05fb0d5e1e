"""The port of GitLab's CI expression language (tests/gitlab/gitlab_expression.py) against the
behaviour GitLab's own source and specs state, so the rule tests that use it judge the template
as GitLab would. Sources: gitlab-org/gitlab (mirrored as gitlabhq/gitlabhq)
`lib/gitlab/ci/pipeline/expression/{lexer,parser,statement}.rb`, `lexeme/*.rb`,
`lib/gitlab/ci/config/entry/validators.rb` (`ExpressionValidator`)."""

from __future__ import annotations

import pytest

from tests.gitlab import gitlab_expression as gx
from tests.gitlab import glci


def chain(comparisons: int) -> str:
    return " || ".join(f'$V{i} != "x"' for i in range(comparisons))


def test_max_tokens_is_100_and_a_statement_of_100_tokens_is_refused() -> None:
    """`lexer.rb`: `MAX_TOKENS = 100`; `tokenize` runs `@max_tokens.times`, each iteration
    first skipping whitespace and returning at the end of the statement, then taking one token,
    and raises "Too many tokens!" after the loop. The end is only noticed at the start of an
    iteration, so the 100th token already raises: at most 99 tokens are accepted. 25
    comparisons joined by `||` are 4 * 25 - 1 = 99 tokens."""
    assert len(gx.tokens(chain(25))) == 99
    assert gx.valid(chain(25))
    with pytest.raises(gx.LexerSyntaxError, match="Too many tokens!"):
        gx.tokens(chain(25) + " ||")  # the 100th token
    assert len(gx.tokens(chain(25) + " ||", max_tokens=101)) == 100
    assert not gx.valid(chain(26))
    assert gx.error(chain(26)) == "LexerSyntaxError: Too many tokens!"


def test_the_single_override_rule_of_v0_1_0_is_refused() -> None:
    """The first-contact failure of issue 18: `<prefix>-overridden-inputs` had one `rules:if`
    comparing every input variable (39 of them) joined by `||`: 155 tokens, "Too many tokens!",
    so `ExpressionValidator` reported "Invalid expression syntax" and no pipeline including the
    template could be created. Rebuilt from the template's current variables."""
    jobs = glci.rendered_jobs({})
    variables = jobs[".scangate-inputs"]["variables"]
    single = " || ".join(f'${name} != "{value}"' for name, value in variables.items())
    assert len(variables) * 4 - 1 > gx.MAX_TOKENS
    assert not gx.valid(single)
    assert gx.error(single) == "LexerSyntaxError: Too many tokens!"


def test_whitespace_and_unknown_lexemes() -> None:
    """`lexer.rb`: `\\s+` is skipped; a position where no lexeme matches is "Unknown lexeme
    found!". A bare word, `=`, `!` alone or a single `&` are not lexemes."""
    assert [t.lexeme for t in gx.tokens("  $A\t==\n'b'  ")] == ["variable", "equals", "string"]
    for bad in ('$A = "b"', "!$A", "$A & $B", "main", '$A == "b" | $C'):
        with pytest.raises(gx.LexerSyntaxError, match="Unknown lexeme"):
            gx.tokens(bad)


def test_lexemes_in_gitlab_order() -> None:
    """`Lexer::LEXEMES` order decides: `$[[ inputs.x ]]` is an Input before it could be a
    Variable; `null` and `true`/`false` are values; strings are non-greedy, in double or single
    quotes, with no escapes (`lexeme/string.rb`)."""
    kinds = [(t.lexeme, t.value) for t in gx.tokens(
        '$[[ inputs.flag ]] == true && $VAR != null || "a" == \'b\'')]
    assert kinds == [("input", "flag"), ("equals", None), ("boolean", True), ("and", None),
                     ("variable", "VAR"), ("not_equals", None), ("null", None), ("or", None),
                     ("string", "a"), ("equals", None), ("string", "b")]
    # A quote ends the literal: `"a"b"` is the string a, then an unknown `b`.
    with pytest.raises(gx.LexerSyntaxError):
        gx.tokens('$A == "a"b"')


def test_pattern_syntax() -> None:
    """`lexeme/pattern.rb`: `%r{^\\/([^\\/]|\\\\/)+[^\\\\]\\/[ismU]*}`: the body needs at least two
    characters (so `/a/` is no pattern), `\\/` is an escaped slash, flags i, s, m, U follow, and
    the regex must compile as RE2 or lexing fails ("Invalid regular expression!")."""
    assert gx.valid("$CI_COMMIT_BRANCH =~ /^release-/")
    assert gx.truthful("$B =~ /^release-/", {"B": "release-1"})
    assert not gx.truthful("$B =~ /^release-/", {"B": "pre-release-1"})
    assert gx.truthful("$B =~ /^RELEASE/i", {"B": "release"})
    assert gx.truthful(r"$B =~ /a\/b/", {"B": "xa/by"})
    assert gx.truthful("$B !~ /^main$/", {"B": "feature"})
    with pytest.raises(gx.LexerSyntaxError, match="Unknown lexeme"):
        gx.tokens("$B =~ /a/")
    for invalid in ("$B =~ /(ab/", "$B =~ /(?=a)b/", r"$B =~ /(a)\1/"):
        assert not gx.valid(invalid), invalid


def test_parser_refusals() -> None:
    """`parser.rb` and `logical_operator.rb`: an operator needs two operands (OperatorError);
    two values side by side leave "Unreachable nodes"; an unclosed `(` stays in the output
    ("Unprocessable token"); a `)` without `(` is "Unmatched parenthesis"; an empty statement
    has no lexemes (`statement.rb`, StatementError)."""
    for invalid in ("$A ==", "== $A", '"a" "b"', '($A == "1"', '$A == "1")', "", "   ",
                    "$A && || $B", "()"):
        assert not gx.valid(invalid), invalid
    assert not gx.valid(None) and not gx.valid(["$A"])  # `ExpressionValidator`: a String


def test_precedence_and_parentheses() -> None:
    """Precedences `==` `!=` `=~` `!~` 10, `&&` 11, `||` 12 (lower binds tighter, as in Ruby);
    equal precedence associates left (`consume?` pops on `>=`); parentheses group."""
    assert gx.truthful('$A == "1" || $B == "2" && $C == "3"', {"A": "1"})
    assert not gx.truthful('($A == "1" || $B == "2") && $C == "3"', {"A": "1"})
    assert gx.truthful('$A == "1" && ($B == "2" || $C == "3")', {"A": "1", "C": "3"})


def test_values_and_comparisons() -> None:
    """`statement.rb` `truthful?` is `present?` (nil, false, "" and blank strings are false);
    an undefined variable is nil and equals only `null`; `compare_with_coercion` compares a
    boolean with a string as text."""
    assert gx.truthful("$A", {"A": "x"})
    assert not gx.truthful("$A", {"A": ""}) and not gx.truthful("$A", {"A": "  "})
    assert gx.truthful("$A != null", {"A": ""})
    assert not gx.truthful('$MISSING == ""', {})
    assert gx.truthful("$MISSING == null", {})
    assert gx.truthful("$A == true", {"A": "true"})
    assert not gx.truthful("$A == true", {"A": "1"})


def test_matches_a_variable_holding_a_pattern_or_a_plain_string() -> None:
    """`matches.rb`: a right side that is a variable is built as a pattern when its value is
    one (`Pattern.build_and_evaluate`); otherwise GitLab calls `String#scan` on it, which
    looks for the left side inside the right."""
    assert gx.truthful("$B =~ $P", {"B": "release-1", "P": "/^release/"})
    assert gx.truthful("$B =~ $P", {"B": "lease", "P": "release-1"})
    assert not gx.truthful("$B =~ $P", {"B": "release-1", "P": "lease"})
    assert not gx.truthful("$B =~ $MISSING", {"B": "x"})
