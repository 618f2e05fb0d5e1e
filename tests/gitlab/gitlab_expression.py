"""GitLab's CI/CD expression language (`rules:if`), ported from its source for the rule tests.

gitlab-ci-local evaluates `rules:if` with its own, more permissive code (no token limit, other
regex handling), and the bundled CI schema only checks that `if` is a string. This module is
the server's grammar, read from gitlab-org/gitlab (mirrored as gitlabhq/gitlabhq), so a test
that passes here is a statement about what GitLab accepts:

- `lib/gitlab/ci/pipeline/expression/lexer.rb`: `LEXEMES` in this order (ParenthesisOpen,
  ParenthesisClose, Input, Variable, String, Pattern, Null, Boolean, Equals, Matches,
  NotEquals, NotMatches, And, Or); whitespace `\\s+` skipped before each token; the first lexeme
  whose pattern matches at the scan position wins ("Unknown lexeme found!" when none does); and
  `MAX_TOKENS = 100`: the loop runs at most 100 times, each time first returning at the end of
  the statement, then taking one token, and raises "Too many tokens!" after the loop; so a
  statement of 100 tokens is refused too (at most 99 are accepted).
- `lexeme/*.rb`: each lexeme's `PATTERN`, matched with Ruby's `StringScanner#scan` (anchored at
  the scan position; the rest of the string is the whole subject, so `^` matches there).
- `lexeme/pattern.rb`: `%r{^\\/([^\\/]|\\\\/)+[^\\\\]\\/[ismU]*}`, `\\/` unescaped to `/`, and the
  regex must be valid (`Gitlab::UntrustedRegexp`, RE2) or lexing fails ("Invalid regular
  expression!"). A one-character pattern `/a/` does not match (the body needs two characters).
- `parser.rb`: shunting-yard to reverse Polish notation (`tokens_rpn`, popping while the
  incoming lexeme's precedence >= the top's: `Base.consume?`), then a tree where only values and
  logical operators may remain ("Unprocessable token found in parse tree", "Unreachable nodes",
  "Empty parse tree"); an operator without two operands raises `OperatorError`
  (`logical_operator.rb`). Precedences: `==` `!=` `=~` `!~` 10, `&&` 11, `||` 12, `)` 900,
  `(` 901.
- `statement.rb`: `valid?` builds and evaluates the tree with no variables and rescues every
  `ExpressionError` as invalid; `truthful?` is `evaluate.present?` (nil, false and "" are
  false). `lib/gitlab/ci/config/entry/validators.rb` (`ExpressionValidator`) refuses a
  `rules:if` that is not a String or not `valid?` with "Invalid expression syntax"
  (`entry/rules/rule.rb`: `validates :if, expression: true`), which makes the whole
  configuration, and so the pipeline, invalid.
- `lexeme/logical_operator.rb` (`compare_with_coercion`): `==`/`!=` compare a boolean literal
  with a string as text (`true == "true"`), everything else with Ruby `==` (an undefined
  variable is nil, which equals only `null`).
- `lexeme/matches.rb`, `not_matches.rb`: the right side is a pattern, or a variable whose value
  is parsed as one (`Pattern.build_and_evaluate`); a value that is not a pattern is used as a
  plain string, and `String#scan(text)` then looks for `text` inside it.

Regular expressions are evaluated with Python's `re` (flags i, m, s); RE2's refusals of
look-around and back-references are checked, its `U` flag is not ported (an expression using
it fails here, loudly, rather than being evaluated differently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_TOKENS = 100


class ExpressionError(Exception):
    """`Gitlab::Ci::Pipeline::Expression::ExpressionError` and its subclasses."""


class LexerSyntaxError(ExpressionError):
    """`Lexer::SyntaxError`."""


class ParseError(ExpressionError):
    """`Parser::ParseError`."""


class OperatorError(ExpressionError):
    """`Lexeme::Operator::OperatorError`."""


class NotPorted(Exception):
    """A construct this port does not evaluate faithfully (so a test fails instead of guessing)."""


# (name, kind, precedence, pattern) in `Lexer::LEXEMES` order. `re.ASCII`: Ruby's `\w` and `\s`
# are ASCII classes; `.` stops at a newline in both.
_FLAGS = re.ASCII
LEXEMES: list[tuple[str, str, int, re.Pattern[str]]] = [
    ("parenthesis_open", "parenthesis_open", 901, re.compile(r"\(", _FLAGS)),
    ("parenthesis_close", "parenthesis_close", 900, re.compile(r"\)", _FLAGS)),
    ("input", "value", 0, re.compile(r"\$\[\[\s*inputs\.(?P<name>\w+)\s*\]\]", _FLAGS)),
    ("variable", "value", 0, re.compile(r"\$(?P<name>\w+)", _FLAGS)),
    ("string", "value", 0, re.compile(r"""("(?P<dq>.*?)")|('(?P<sq>.*?)')""", _FLAGS)),
    ("pattern", "value", 0, re.compile(r"\/([^\/]|\\/)+[^\\]\/[ismU]*", _FLAGS)),
    ("null", "value", 0, re.compile(r"null", _FLAGS)),
    ("boolean", "value", 0, re.compile(r"\b(?:true|false)\b", _FLAGS)),
    ("equals", "logical_operator", 10, re.compile(r"==", _FLAGS)),
    ("matches", "logical_operator", 10, re.compile(r"=~", _FLAGS)),
    ("not_equals", "logical_operator", 10, re.compile(r"!=", _FLAGS)),
    ("not_matches", "logical_operator", 10, re.compile(r"!~", _FLAGS)),
    ("and", "logical_operator", 11, re.compile(r"&&", _FLAGS)),
    ("or", "logical_operator", 12, re.compile(r"\|\|", _FLAGS)),
]
_WHITESPACE = re.compile(r"\s+", _FLAGS)
_RUBY_SYNTAX = re.compile(r"^/(?P<regexp>.*)/(?P<flags>[ismU]*)$", re.DOTALL)
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")


@dataclass(frozen=True)
class Token:
    lexeme: str
    kind: str
    precedence: int
    text: str
    value: Any = None


def compile_pattern(source: str) -> re.Pattern[str]:
    """`Gitlab::UntrustedRegexp::RubySyntax.fabricate!`: `/body/flags` as an RE2 regex."""
    match = _RUBY_SYNTAX.match(source)
    if match is None:
        raise LexerSyntaxError("Invalid regular expression!")
    body, flags = match.group("regexp"), match.group("flags")
    if "U" in flags:
        raise NotPorted(f"the U (ungreedy) flag of {source!r} is RE2's, not ported")
    if _NOT_RE2.search(body):
        raise LexerSyntaxError(f"Invalid regular expression! (RE2 has no look-around or "
                               f"back-references: {source!r})")
    value = 0
    for flag, python in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL)):
        if flag in flags:
            value |= python
    try:
        return re.compile(body, value)
    except re.error as exc:
        raise LexerSyntaxError(f"Invalid regular expression! ({exc})") from exc


def tokens(statement: str, max_tokens: int = MAX_TOKENS) -> list[Token]:
    """`Lexer#tokens`."""
    result: list[Token] = []
    position = 0
    for _ in range(max_tokens):
        skip = _WHITESPACE.match(statement, position)
        if skip:
            position = skip.end()
        if position >= len(statement):
            return result
        rest = statement[position:]
        for name, kind, precedence, pattern in LEXEMES:
            match = pattern.match(rest)
            if match is None:
                continue
            text = match.group(0)
            value: Any = None
            if name in ("variable", "input"):
                value = match.group("name")
            elif name == "string":
                value = match.group("dq") if match.group("dq") is not None else match.group("sq")
            elif name == "pattern":
                value = compile_pattern(text.replace("\\/", "/"))
            elif name == "boolean":
                value = text == "true"
            result.append(Token(name, kind, precedence, text, value))
            position += match.end()
            break
        else:
            raise LexerSyntaxError(f"Unknown lexeme found! at {rest[:40]!r}")
    raise LexerSyntaxError("Too many tokens!")


def _rpn(items: list[Token]) -> list[Token]:
    """`Parser#tokens_rpn` (shunting-yard)."""
    output: list[Token] = []
    operators: list[Token] = []

    def consume(token: Token) -> bool:  # `Base.consume?`
        return bool(operators) and token.precedence >= operators[-1].precedence

    for token in items:
        if token.kind == "value":
            output.append(token)
        elif token.kind == "logical_operator":
            while consume(token):
                output.append(operators.pop())
            operators.append(token)
        elif token.kind == "parenthesis_open":
            operators.append(token)
        elif token.kind == "parenthesis_close":
            while consume(token):
                output.append(operators.pop())
            if not operators:
                raise ParseError("Unmatched parenthesis")
            if operators[-1].kind == "parenthesis_open":
                operators.pop()
    return output + operators[::-1]


@dataclass(frozen=True)
class Node:
    token: Token
    left: Node | None = None
    right: Node | None = None


def parse(statement: str) -> Node:
    """`Statement#parse_tree`: lex, refuse an empty statement, build the tree."""
    items = tokens(statement)
    if not items:
        raise ExpressionError("empty statement (StatementError)")
    results: list[Node | None] = []
    for token in _rpn(items):
        if token.kind == "value":
            results.append(Node(token))
        elif token.kind == "logical_operator":
            right = results.pop() if results else None
            left = results.pop() if results else None
            if left is None:
                raise OperatorError("Invalid left operand")
            if right is None:
                raise OperatorError("Invalid right operand")
            results.append(Node(token, left, right))
        else:
            raise ParseError(f"Unprocessable token found in parse tree: {token.kind}")
    if len(results) > 1:
        raise ParseError("Unreachable nodes in parse tree")
    if not results or results[0] is None:
        raise ParseError("Empty parse tree")
    return results[0]


def _equal(left: Any, right: Any) -> bool:
    """`LogicalOperator#compare_with_coercion`."""
    if isinstance(left, bool) and isinstance(right, str):
        return ("true" if left else "false") == right
    if isinstance(right, bool) and isinstance(left, str):
        return left == ("true" if right else "false")
    return bool(left == right) and type(left) is type(right)


def _scan(regexp: Any, text: str) -> bool:
    """`regexp.scan(text).present?` for an RE2 regex or a plain string (`String#scan`)."""
    if isinstance(regexp, re.Pattern):
        return regexp.search(text) is not None
    return text in str(regexp)


def _as_pattern(value: Any) -> Any:
    """`Pattern.build_and_evaluate`: a string that lexes as a whole pattern becomes a regex."""
    if isinstance(value, re.Pattern) or not isinstance(value, str):
        return value
    match = LEXEMES[5][3].match(value)
    if match is None:
        return value
    try:
        return compile_pattern(match.group(0).replace("\\/", "/"))
    except LexerSyntaxError:
        return value


def _evaluate(node: Node, variables: dict[str, str], inputs: dict[str, Any]) -> Any:
    token = node.token
    if token.kind == "value":
        if token.lexeme == "variable":
            return variables.get(token.value)
        if token.lexeme == "input":
            return inputs.get(token.value)
        return token.value  # string, pattern, null (None), boolean
    assert node.left is not None and node.right is not None
    if token.lexeme == "and":
        left = _evaluate(node.left, variables, inputs)
        return _evaluate(node.right, variables, inputs) if _ruby_truthy(left) else left
    if token.lexeme == "or":
        left = _evaluate(node.left, variables, inputs)
        return left if _ruby_truthy(left) else _evaluate(node.right, variables, inputs)
    left = _evaluate(node.left, variables, inputs)
    right = _evaluate(node.right, variables, inputs)
    if token.lexeme == "equals":
        return _equal(left, right)
    if token.lexeme == "not_equals":
        return not _equal(left, right)
    if token.lexeme == "matches":
        if right is None or right is False:
            return False
        return _scan(_as_pattern(right), "" if left is None else str(left))
    if right is None:  # not_matches: `nil.scan` raises NoMethodError, not an ExpressionError
        raise NotPorted("`!~` with a null right side raises in GitLab (not an ExpressionError)")
    return not _scan(_as_pattern(right), "" if left is None else str(left))


def _ruby_truthy(value: Any) -> bool:
    """Ruby: only nil and false are false (`&&`, `||`)."""
    return value is not None and value is not False


def _present(value: Any) -> bool:
    """ActiveSupport `present?`: nil, false, "" (and whitespace-only strings) are blank."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    return True


def valid(statement: Any) -> bool:
    """`ExpressionValidator`: a String whose `Statement#valid?` holds."""
    if not isinstance(statement, str):
        return False
    try:
        _evaluate(parse(statement), {}, {})
    except ExpressionError:
        return False
    return True


def error(statement: str) -> str | None:
    """Why GitLab refuses the statement, or None when it accepts it."""
    try:
        _evaluate(parse(statement), {}, {})
    except ExpressionError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def truthful(statement: str, variables: dict[str, str],
             inputs: dict[str, Any] | None = None) -> bool:
    """`Statement#truthful?`: the rule matches. An invalid statement never matches."""
    try:
        return _present(_evaluate(parse(statement), variables, inputs or {}))
    except ExpressionError:
        return False
