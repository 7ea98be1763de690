"""A small, safe evaluator for reward combination formulas.

A reward designer types `rm + 0.5 * sim - if(len > 300, 1, 0)`; the web process
validates it and workers evaluate it over thousands of rows. Python's `eval` would
let that text reach any object, so the text is parsed with `ast.parse(mode="eval")`
and only a short list of node kinds is compiled into plain closures; anything else
is refused with an error that quotes the offending piece.

Language:
- numbers, component names, `+ - * /`, `^` (power, as in a spreadsheet; `**` too),
  unary `-`/`+`, comparisons `< <= > >= == !=` (1.0 or 0.0, chains allowed),
  `and`, `or`, `not`;
- functions `min(a, b, ...)`, `max(a, b, ...)`, `abs`, `exp`, `log` (natural),
  `sqrt`, `clip(x, lo, hi)` and `if(c, a, b)`. `if` is a Python keyword, so the
  tokenizer renames `if(` to an internal name before parsing; only the call form
  exists.

Missing values (None, NaN or ±inf on input) make every result that needs them
missing (`None`); `if` only needs the branch it takes. Undefined results
(`log(0)`, `sqrt(-1)`, `x / 0`, a negative number to a fractional power) are
missing too, because one odd row should not fail a batch. An exponent beyond
±100 or a result too large for a float is an error: it means the formula is wrong.
"""

from __future__ import annotations

import ast
import io
import math
import tokenize
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_EXPONENT = 100.0
_IF = "_if"

Value = float | None
Row = Sequence[Value]
_Fn = Callable[[Row], Value]


class FormulaError(ValueError):
    """A formula that cannot be parsed or evaluated; the message quotes the offending piece."""


def as_values(values: Iterable[object]) -> list[float | None]:
    """Floats, with None, NaN and infinities all turned into None (missing)."""
    isfinite = math.isfinite
    return [
        None if value is None else (number if isfinite(number := float(value)) else None)  # type: ignore[arg-type]
        for value in values
    ]


def _log(x: float) -> Value:
    return math.log(x) if x > 0 else None


def _sqrt(x: float) -> Value:
    return math.sqrt(x) if x >= 0 else None


def _clip(x: float, low: float, high: float) -> Value:
    return min(max(x, low), high)


# name -> (fewest arguments, most arguments or None for any, implementation)
_FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Value]]] = {
    "min": (1, None, lambda *a: min(a)),
    "max": (1, None, lambda *a: max(a)),
    "abs": (1, 1, abs),
    "exp": (1, 1, math.exp),
    "log": (1, 1, _log),
    "sqrt": (1, 1, _sqrt),
    "clip": (3, 3, _clip),
    _IF: (3, 3, lambda c, a, b: a if c else b),  # compiled lazily below
}
_PUBLIC_FUNCTIONS = ", ".join(sorted(n if n != _IF else "if" for n in _FUNCTIONS))

_BINARY: dict[type[ast.operator], Callable[[float, float], Value]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b if b != 0 else None,
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.IfExp: "`a if c else b` is not allowed; write if(c, a, b)",
    ast.NamedExpr: "assignment is not allowed",
    ast.JoinedStr: "strings are not allowed",
}


@dataclass(frozen=True)
class Formula:
    """A parsed formula; `names` are the components it reads, in order of first use."""

    expression: str
    names: tuple[str, ...]
    _fn: _Fn = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, Sequence[object]]) -> list[float | None]:
        """One result per row; `values` maps each component name to a column of values."""
        columns = []
        for name in self.names:
            if name not in values:
                raise FormulaError(f"no values for component `{name}`")
            columns.append(as_values(values[name]))
        lengths = {len(c) for c in columns} or {len(next(iter(values.values()), ()))}
        if len(lengths) > 1:
            raise FormulaError("component columns have different lengths")
        if not columns:
            return [self._fn(()) for _ in range(lengths.pop())]
        return [self._fn(row) for row in zip(*columns, strict=True)]

    def evaluate_row(self, values: Mapping[str, object]) -> float | None:
        """The result for a single row of component values."""
        if not self.names:
            return self._fn(())
        return self.evaluate({name: [values.get(name)] for name in self.names})[0]


def parse_formula(expression: str, names: Iterable[str]) -> Formula:
    """Parse and check `expression` against the allowed component `names`."""
    if len(expression) > MAX_LENGTH:
        raise FormulaError(
            f"the formula is {len(expression)} characters long; the limit is {MAX_LENGTH}"
        )
    if not expression.strip():
        raise FormulaError("the formula is empty")
    source = _rewrite(expression)
    caret_only = "**" not in expression  # then every `**` in an error message was a `^`
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
        raise FormulaError(f"cannot parse the formula: {detail}") from None
    if _depth(tree) > MAX_DEPTH:
        raise FormulaError(f"the formula is nested more than {MAX_DEPTH} levels deep")
    compiler = _Compiler(source.strip(), list(names), caret_only=caret_only)
    fn, _ = compiler.compile(tree.body)
    return Formula(expression=expression, names=tuple(compiler.used), _fn=fn)


def _rewrite(expression: str) -> str:
    """`^` becomes `**` and `if(` becomes an internal function name, token by token,
    so that text inside other tokens is never touched."""
    line_starts = [0]
    for line in expression.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expression).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise FormulaError(f"cannot read the formula: {exc.args[0]}") from None
    pieces, last = [], 0
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string == "^":
            replacement = "**"
        elif (
            tok.type == tokenize.NAME
            and tok.string == "if"
            and i + 1 < len(tokens)
            and tokens[i + 1].string == "("
        ):
            replacement = _IF
        else:
            continue
        start = line_starts[tok.start[0] - 1] + tok.start[1]
        end = line_starts[tok.end[0] - 1] + tok.end[1]
        pieces += [expression[last:start], replacement]
        last = end
    pieces.append(expression[last:])
    return "".join(pieces)


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _Compiler:
    """Turns a checked AST into nested closures over a row of component values.

    `compile` returns `(fn, constant)`; constant subtrees are evaluated at once,
    so `2 ^ 1000` is refused when the formula is saved, not when a batch runs."""

    def __init__(self, source: str, names: list[str], *, caret_only: bool) -> None:
        self.source = source
        self.caret_only = caret_only
        self.names = names
        self.used: list[str] = []

    def piece(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or type(node).__name__
        text = text.replace(f"{_IF}(", "if(")
        return text.replace("**", "^") if self.caret_only else text

    def error(self, node: ast.AST, reason: str) -> FormulaError:
        return FormulaError(f"`{self.piece(node)}`: {reason}")

    def compile(self, node: ast.expr) -> tuple[_Fn, bool]:
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is None:
            reason = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed")
            raise self.error(node, reason)
        fn, constant = method(node)
        if constant:
            value = fn(())
            return (lambda row: value), True
        return fn, False

    def guard(self, node: ast.AST, fn: Callable[..., Value]) -> Callable[..., Value]:
        """Wrap an operation so an overflow becomes a FormulaError naming `node`."""

        def guarded(*args: float) -> Value:
            try:
                result = fn(*args)
            except FormulaError:
                raise
            except OverflowError:
                raise self.error(node, "the result is too large") from None
            except (ZeroDivisionError, ValueError):
                return None
            if result is not None and not math.isfinite(result):
                raise self.error(node, "the result is too large")
            return result

        return guarded

    def _constant(self, node: ast.Constant) -> tuple[_Fn, bool]:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            kind = "strings" if isinstance(node.value, str) else f"{node.value!r}"
            raise self.error(node, f"{kind} {'are' if kind == 'strings' else 'is'} not allowed")
        try:
            value = float(node.value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise self.error(node, "the number is too large")
        return (lambda row: value), True

    def _name(self, node: ast.Name) -> tuple[_Fn, bool]:
        if node.id not in self.names:
            known = ", ".join(self.names) or "none"
            raise self.error(node, f"unknown name; the components are: {known}")
        if node.id not in self.used:
            self.used.append(node.id)
        index = self.used.index(node.id)
        return (lambda row: row[index]), False

    def _unaryop(self, node: ast.UnaryOp) -> tuple[_Fn, bool]:
        operand, constant = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return (lambda row: None if (v := operand(row)) is None else -v), constant
        if isinstance(node.op, ast.UAdd):
            return operand, constant
        if isinstance(node.op, ast.Not):
            return (lambda row: None if (v := operand(row)) is None else float(not v)), constant
        raise self.error(node, "this operator is not allowed")

    def _binop(self, node: ast.BinOp) -> tuple[_Fn, bool]:
        left, left_constant = self.compile(node.left)
        right, right_constant = self.compile(node.right)
        if isinstance(node.op, ast.Pow):
            op = self.guard(node, self._power(node))
        elif type(node.op) in _BINARY:
            op = self.guard(node, _BINARY[type(node.op)])
        else:
            raise self.error(node, "this operator is not allowed; use + - * / ^")

        def binop(row: Row) -> Value:
            a = left(row)
            if a is None:
                return None
            b = right(row)
            return None if b is None else op(a, b)

        return binop, left_constant and right_constant

    def _power(self, node: ast.BinOp) -> Callable[[float, float], Value]:
        def power(a: float, b: float) -> Value:
            if abs(b) > MAX_EXPONENT:
                raise self.error(node, f"the exponent {b:g} is beyond ±{MAX_EXPONENT:g}")
            if a < 0 and not b.is_integer():
                return None
            return a**b

        return power

    def _compare(self, node: ast.Compare) -> tuple[_Fn, bool]:
        parts = [self.compile(node.left)] + [self.compile(c) for c in node.comparators]
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise self.error(node, "only < <= > >= == != comparisons are allowed")
            ops.append(_COMPARE[type(op)])
        fns = [fn for fn, _ in parts]

        def compare(row: Row) -> Value:
            values = [fn(row) for fn in fns]
            if any(v is None for v in values):
                return None
            return float(all(op(a, b) for op, a, b in zip(ops, values, values[1:], strict=False)))

        return compare, all(constant for _, constant in parts)

    def _boolop(self, node: ast.BoolOp) -> tuple[_Fn, bool]:
        parts = [self.compile(v) for v in node.values]
        fns = [fn for fn, _ in parts]
        combine = all if isinstance(node.op, ast.And) else any

        def boolop(row: Row) -> Value:
            values = [fn(row) for fn in fns]
            return None if any(v is None for v in values) else float(combine(values))

        return boolop, all(constant for _, constant in parts)

    def _call(self, node: ast.Call) -> tuple[_Fn, bool]:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS:
            raise self.error(node, f"unknown function; the functions are: {_PUBLIC_FUNCTIONS}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.error(node, "only plain positional arguments are allowed")
        fewest, most, impl = _FUNCTIONS[name]
        shown = "if" if name == _IF else name
        if len(node.args) < fewest or (most is not None and len(node.args) > most):
            wanted = f"{fewest}" if fewest == most else f"at least {fewest}"
            raise self.error(node, f"{shown}() takes {wanted} argument(s), got {len(node.args)}")
        parts = [self.compile(a) for a in node.args]
        fns = [fn for fn, _ in parts]
        constant = all(c for _, c in parts)
        if name == _IF:
            cond, then, other = fns

            def if_(row: Row) -> Value:
                c = cond(row)
                return None if c is None else (then(row) if c else other(row))

            return if_, constant
        op = self.guard(node, impl)

        def call(row: Row) -> Value:
            values = [fn(row) for fn in fns]
            return None if any(v is None for v in values) else op(*values)

        return call, constant
