"""MLflow's run filter language, plus ``OR`` and parentheses, compiled to parameterized SQL.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := term ("AND" term)*
    term       := "(" or_expr ")" | comparison
    comparison := field op value | field "IN" list | field "NOT IN" list | field "IS" ["NOT"] "NULL"
    field      := [prefix "."] key       prefix: metrics params tags attributes (and singular forms)
    op         := = != <> < <= > >= LIKE ILIKE

Keys may be backquoted or double-quoted (``params.`learning rate```); a bare key
may hold dots and digits (``metrics.layer.0.loss``, ``tags.mlflow.runName``).
Every value becomes a ``?`` parameter; identifiers become parameters too (keys)
or are looked up in a fixed table (attribute columns), so no text of the filter
is ever spliced into SQL.

Limits, so every input ends in a :class:`FilterSyntaxError` rather than a crash
deep in Python or SQLite: a filter (or one ``order_by`` clause) of at most
``MAX_FILTER_CHARS`` characters, at most ``MAX_DEPTH`` nested parentheses and
``MAX_TERMS`` comparisons, at most ``MAX_ORDER_BY`` ``order_by`` clauses; integers compared with attributes fit SQLite's
int64; a LIKE pattern fits SQLite's ``MAX_LIKE_PATTERN_BYTES``; text must be
valid Unicode (no lone surrogates).

Example:
    >>> sql, args = compile_filter("metrics.accuracy > 0.8 and params.alpha = '1'")
    >>> args
    ['accuracy', 0.8, 'alpha', '1']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import FilterSyntaxError

MAX_FILTER_CHARS = 10_000
MAX_DEPTH = 100  # nested parentheses
MAX_TERMS = 500  # comparisons in one filter
MAX_ORDER_BY = 20  # order_by clauses; past 2,000 SQLite fails ("too many terms in ORDER BY")
MAX_LIKE_PATTERN_BYTES = 50_000  # SQLite's SQLITE_MAX_LIKE_PATTERN_LENGTH; larger fails in SQL
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # SQLite's INTEGER

# Filter attribute name -> SQL over the runs row. Only these strings reach SQL as identifiers.
ATTRIBUTE_COLUMNS: dict[str, str] = {
    "run_id": "runs.run_id",
    "run_uuid": "runs.run_id",
    "id": "runs.run_id",
    "run_name": "runs.run_name",
    "status": "runs.status",
    "start_time": "runs.start_time",
    "end_time": "runs.end_time",
    "user_id": "runs.user_id",
    "experiment_id": "runs.experiment_id",
    "lifecycle_stage": "runs.lifecycle_stage",
    "parent_run_id": "runs.parent_run_id",
    "notebook_path": "runs.notebook_path",
    "cell_id": "runs.cell_id",
    "execution_count": "runs.execution_count",
    "source": "runs.source",
    "previous_run_id": "runs.previous_run_id",
    "duration": "(runs.end_time - runs.start_time)",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "execution_count", "experiment_id", "duration"}

_PREFIXES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}
_COMPARATORS = {"=", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE"}

_KEY = r"""(?:`[^`]*`|"(?:[^"\\]|\\.)*"|[\w\-:/]+(?:\.[\w\-:/]+)*)"""
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<field>(?i:metrics?|params?|parameters?|tags?|attributes?|attr|run)\.""" + _KEY + r""")
      | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))(?![\w.])
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<backquoted>`[^`]*`)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<comma>,)
      | (?P<word>[A-Za-z_][\w\-:/]*)
      | (?P<digits>\d+)
      | (?P<dot>\.)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Field:
    kind: str  # metric | param | tag | attribute
    key: str


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens; ``prefix.key`` (dots and digits allowed in key) is one token."""
    _check_text(text)
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:  # only trailing whitespace is left
            break
        kind = match.lastgroup or "bad"
        value = match.group(kind)
        start = match.start(kind)
        if kind == "bad":
            raise FilterSyntaxError(_where(text, start, f"unexpected character {value!r}"))
        tokens.append(Token(kind, value, start))
        position = match.end()
    return tokens


def compile_filter(text: str | None) -> tuple[str, list[object]]:
    """Compile a filter to ``(sql, params)`` for a WHERE clause over ``runs``; empty → ``("1", [])``.

    Example:
        >>> compile_filter("metrics.layer.0.loss < 1")[1]
        ['layer.0.loss', 1.0]
    """
    if text is None:
        return "1", []
    if not isinstance(text, str):
        raise FilterSyntaxError(f"a filter is text; got {type(text).__name__}")
    if not text.strip():
        return "1", []
    parser = _Parser(text)
    sql = parser.parse()
    return sql, parser.args


def _check_text(text: str) -> None:
    """Refuse text no query could use: too long, or not valid Unicode (SQLite binds UTF-8)."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterSyntaxError(
            f"bad filter: {len(text):,} characters is more than the {MAX_FILTER_CHARS:,} allowed; "
            "shorten it (e.g. fewer OR terms, or an IN list)"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterSyntaxError(
            _where(text, exc.start, f"character {text[exc.start]!r} is not valid Unicode (a lone "
                   "surrogate); remove it")
        ) from None


def parse_field(text: str) -> Field:
    """Parse ``metrics.acc`` / ``params.`a b``` / ``start_time`` into a Field (also for order_by)."""
    parser = _Parser(text)
    field = parser.field()
    parser.expect_end()
    return field


def compile_order_by(clauses: list[str] | None) -> tuple[str, list[object]]:
    """Compile MLflow's ``order_by`` (``["metrics.acc DESC", "start_time"]``) to SQL."""
    parts: list[str] = []
    args: list[object] = []
    if clauses and len(clauses) > MAX_ORDER_BY:
        raise FilterSyntaxError(
            f"bad order_by: {len(clauses)} clauses is more than the {MAX_ORDER_BY} allowed; sort by fewer fields"
        )
    for clause in clauses or []:
        if not isinstance(clause, str):
            raise FilterSyntaxError(f"bad order_by: each clause is text; got {type(clause).__name__}")
        parser = _Parser(clause)
        field = parser.field()
        direction = "ASC"
        token = parser.peek()
        if token is not None and token.upper in ("ASC", "DESC"):
            direction = token.upper
            parser.index += 1
        parser.expect_end()
        expression, expression_args = field_expression(field)
        parts.append(f"{expression} {direction} NULLS LAST")
        args.extend(expression_args)
    return ", ".join(parts), args


def field_expression(field: Field) -> tuple[str, list[object]]:
    """A scalar SQL expression for a field's value on the current ``runs`` row."""
    if field.kind == "attribute":
        return ATTRIBUTE_COLUMNS[field.key], []
    table, column = _SIDE_TABLES[field.kind]
    return f"(SELECT {column} FROM {table} WHERE run = runs.id AND key = ?)", [field.key]


_SIDE_TABLES = {
    "metric": ("metric_summaries", "last_value"),
    "param": ("params", "value"),
    "tag": ("tags", "value"),
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.args: list[object] = []
        self.depth = 0
        self.terms = 0

    def parse(self) -> str:
        sql = self.or_expr()
        self.expect_end()
        return sql

    def expect_end(self) -> None:
        token = self.peek()
        if token is not None:
            raise self.error(token, f"unexpected {token.text!r}; join conditions with AND or OR")

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str) -> Token:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError(_where(self.text, len(self.text), f"the filter ends early; expected {expected}"))
        self.index += 1
        return token

    def error(self, token: Token, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(_where(self.text, token.position, message))

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while (token := self.peek()) is not None and token.upper == "OR":
            self.index += 1
            parts.append(self.and_expr())
        return _balanced(parts, "OR")

    def and_expr(self) -> str:
        parts = [self.term()]
        while (token := self.peek()) is not None and token.upper == "AND":
            self.index += 1
            parts.append(self.term())
        return _balanced(parts, "AND")

    def term(self) -> str:
        token = self.peek()
        if token is not None and token.kind == "lparen":
            if self.depth >= MAX_DEPTH:
                raise self.error(token, f"more than {MAX_DEPTH} nested parentheses; flatten the filter")
            self.index += 1
            self.depth += 1
            inner = self.or_expr()
            self.depth -= 1
            closing = self.take("')'")
            if closing.kind != "rparen":
                raise self.error(closing, f"expected ')' to close the '(' at position {token.position}")
            return inner
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(token or self.tokens[-1], f"more than {MAX_TERMS} comparisons; "
                             "use IN (...) for many values or split the search")
        return self.comparison()

    def field(self) -> Field:
        token = self.take("a field such as metrics.accuracy, params.alpha or attributes.status")
        if token.kind == "field":
            prefix_text, key = token.text.split(".", 1)
            prefix = _PREFIXES[prefix_text.lower()]
            if key[:1] in ("`", '"'):
                key = key[1:-1]
            return Field(prefix, key) if prefix != "attribute" else self._attribute(token, key)
        if token.kind == "backquoted" or token.kind == "string" and token.text.startswith('"'):
            return self._attribute(token, token.text[1:-1])
        if token.kind != "word":
            raise self.error(token, f"expected a field such as metrics.accuracy; got {token.text!r}")
        prefix = _PREFIXES.get(token.text.lower())
        following = self.peek()
        if prefix is not None and following is not None and following.kind == "dot":
            self.index += 1
            return Field(prefix, self._key(prefix)) if prefix != "attribute" else \
                self._attribute(token, self._key(prefix))
        return self._attribute(token, token.text)

    def _key(self, prefix: str) -> str:
        token = self.take(f"a {prefix} name after the '.'")
        if token.kind == "backquoted" or (token.kind == "string" and token.text.startswith('"')):
            return token.text[1:-1]
        if token.kind != "word":
            raise self.error(token, f"expected a {prefix} name; got {token.text!r} (backquote odd names: `a b`)")
        # Dotted keys (tags.mlflow.runName) continue while a dot is followed by a word.
        key = token.text
        while (dot := self.peek()) is not None and dot.kind == "dot":
            self.index += 1
            part = self.take("a name after the '.'")
            if part.kind not in ("word", "number", "digits"):
                raise self.error(part, "expected a name after the '.'")
            key += "." + part.text.lstrip("+")
        return key

    def _attribute(self, token: Token, name: str) -> Field:
        if name not in ATTRIBUTE_COLUMNS:
            raise self.error(
                token,
                f"unknown field {name!r}; prefix it with metrics., params., tags. or use an attribute "
                f"({', '.join(sorted(set(ATTRIBUTE_COLUMNS) - {'id', 'run_uuid'}))})",
            )
        return Field("attribute", name)

    def comparison(self) -> str:
        field = self.field()
        op_token = self.take("a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)")
        op = op_token.upper if op_token.kind == "word" else op_token.text
        if op == "NOT":
            after = self.take("IN after NOT")
            if after.upper != "IN":
                raise self.error(after, "expected IN after NOT")
            return self._membership(field, negate=True)
        if op == "IN":
            return self._membership(field, negate=False)
        if op == "IS":
            return self._null_check(field)
        if op not in _COMPARATORS:
            raise self.error(op_token, f"expected a comparison operator after {field.key!r}; got {op_token.text!r}")
        value = self._value(field, op)
        op = "!=" if op == "<>" else op
        return self._predicate(field, op, value)

    def _value(self, field: Field, op: str) -> object:
        token = self.take("a value")
        if token.kind == "number":
            if field.kind in ("param", "tag") or (field.kind == "attribute" and field.key not in NUMERIC_ATTRIBUTES):
                raise self.error(token, f"{field.kind} values are strings: quote it, as '{token.text}'")
            if op in ("LIKE", "ILIKE"):
                raise self.error(token, f"{op} takes a quoted pattern such as '%{token.text}%'")
            return self._number(token, field)
        if token.kind == "string":
            if field.kind == "metric" and op not in ("LIKE", "ILIKE"):
                raise self.error(token, f"metric values are numbers: write {token.text[1:-1]} without quotes")
            value = _unquote(token.text)
            if op in ("LIKE", "ILIKE") and len(value.encode("utf-8")) > MAX_LIKE_PATTERN_BYTES:
                raise self.error(token, f"a {op} pattern may be at most {MAX_LIKE_PATTERN_BYTES:,} "
                                 "bytes (SQLite's limit); shorten it")
            return value
        raise self.error(token, f"expected a number or a quoted string; got {token.text!r}")

    def _number(self, token: Token, field: Field) -> object:
        """A number literal: int64 for attributes (SQLite's INTEGER), else a float (may be ±inf)."""
        text = token.text
        if field.kind != "attribute":
            return float(text)  # 1e999 is inf: a diverged loss is a legitimate thing to search for
        digits = text.lstrip("+-")
        if digits.isdigit():  # an integer literal: exact, never through float
            value = int(text) if len(digits) <= 19 else None
        else:
            number = float(text)
            value = int(number) if number.is_integer() else None
            if value is None and math.isfinite(number):
                return number
        if value is None or not INT64_MIN <= value <= INT64_MAX:
            shown = text if len(text) <= 30 else text[:30] + "…"
            raise self.error(token, f"{shown} is out of range for {field.key}; use a whole number "
                             f"from {INT64_MIN} to {INT64_MAX}")
        return value

    def _predicate(self, field: Field, op: str, value: object) -> str:
        condition = "lower({target}) LIKE lower(?)" if op == "ILIKE" else "{target} " + op + " ?"
        if field.kind == "attribute":
            target = field_expression(field)[0]
            self.args.append(value)
            return condition.format(target=target)
        table, column = _SIDE_TABLES[field.kind]
        self.args.extend([field.key, value])
        return (f"EXISTS (SELECT 1 FROM {table} WHERE run = runs.id AND key = ? AND "
                + condition.format(target=column) + ")")

    def _membership(self, field: Field, *, negate: bool) -> str:
        opening = self.take("'(' to start the list")
        if opening.kind != "lparen":
            raise self.error(opening, "IN takes a parenthesised list, such as ('a', 'b')")
        values: list[object] = []
        while True:
            values.append(self._value(field, "IN"))
            separator = self.take("',' or ')'")
            if separator.kind == "rparen":
                break
            if separator.kind != "comma":
                raise self.error(separator, "expected ',' or ')' in the IN list")
        marks = ", ".join("?" * len(values))
        keyword = "NOT IN" if negate else "IN"
        if field.kind == "attribute":
            self.args.extend(values)
            return f"{field_expression(field)[0]} {keyword} ({marks})"
        table, column = _SIDE_TABLES[field.kind]
        self.args.extend([field.key, *values])
        return f"EXISTS (SELECT 1 FROM {table} WHERE run = runs.id AND key = ? AND {column} {keyword} ({marks}))"

    def _null_check(self, field: Field) -> str:
        token = self.take("NULL or NOT NULL")
        negate = token.upper == "NOT"
        if negate:
            token = self.take("NULL")
        if token.upper != "NULL":
            raise self.error(token, "expected NULL after IS")
        if field.kind == "attribute":
            return f"{field_expression(field)[0]} IS {'NOT ' if negate else ''}NULL"
        table, _ = _SIDE_TABLES[field.kind]
        self.args.append(field.key)
        exists = f"EXISTS (SELECT 1 FROM {table} WHERE run = runs.id AND key = ?)"
        return exists if negate else f"NOT {exists}"


def _balanced(parts: list[str], joiner: str) -> str:
    """``a OR b OR c ...`` as a balanced tree, so SQLite's expression depth grows as log(terms)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return f"({_balanced(parts[:middle], joiner)} {joiner} {_balanced(parts[middle:], joiner)})"


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def _where(text: str, position: int, message: str) -> str:
    excerpt = text if len(text) <= 60 else text[max(0, position - 25) : position + 25]
    return f"bad filter at position {position}: {message} (in: {excerpt!r})"
