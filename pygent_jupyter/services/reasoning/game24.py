"""Game of 24: puzzle data, exact answer checking and a brute-force solver.

The puzzle list (``data/24.csv``) comes from princeton-nlp/tree-of-thought-llm (MIT; its
notice ships next to it as ``data/LICENSE-tree-of-thought-llm``). Rows are ordered by human
solve time, so index 900-999 is the hard slice the paper reports on.
"""

from __future__ import annotations

import ast
import csv
import functools
import io
import re
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from importlib import resources

__all__ = [
    "check_answer",
    "current_numbers",
    "evaluate_expression",
    "load_puzzles",
    "parse_numbers",
    "solutions",
]

_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")


@functools.lru_cache(maxsize=1)
def load_puzzles() -> tuple[str, ...]:
    """All 1362 puzzles of the shipped ``24.csv``, e.g. ``"1 1 4 6"``, in file order."""
    text = resources.files(__package__).joinpath("data/24.csv").read_text(encoding="utf-8")
    return tuple(row["Puzzles"].strip() for row in csv.DictReader(io.StringIO(text)))


def parse_numbers(text: str) -> list[Fraction]:
    """The numbers in ``text`` (integers, decimals or ``a/b``) as exact fractions."""
    out: list[Fraction] = []
    for token in _NUMBER_RE.findall(text):
        try:
            out.append(Fraction(token))
        except (ValueError, ZeroDivisionError):
            continue
    return out


def current_numbers(x: str, path: Sequence[str]) -> str:
    """The numbers still in play after ``path``: the last ``(left: …)`` or the input ``x``."""
    for line in reversed(path):
        if "left:" in line:
            return line.split("left:", 1)[1].split(")", 1)[0].strip()
    return x.strip()


class _Invalid(ValueError):
    pass


def _eval(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body, used)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, used), _eval(node.right, used)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise _Invalid("division by zero")
            return left / right
    raise _Invalid(f"not allowed in a Game of 24 expression: {ast.dump(node)[:40]}")


def evaluate_expression(expression: str) -> tuple[Fraction, list[int]]:
    """Evaluate ``+ - * / ( )`` over integer literals exactly; return (value, literals used).

    Raises ``ValueError`` on anything else (names, powers, unary minus, decimals, 1/0).
    """
    text = expression.replace("\u00d7", "*").replace("\u00f7", "/").replace("\u2212", "-").strip()
    if len(text) > 200:
        raise _Invalid("expression too long")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _Invalid(f"not an arithmetic expression: {exc.msg}") from None
    used: list[int] = []
    return _eval(tree, used), used


def check_answer(puzzle: str, answer: str) -> bool:
    """True iff ``answer`` uses each number of ``puzzle`` exactly once and equals 24 exactly.

    ``answer`` may be ``"Answer: (6 - 4) * (4 + 8) = 24"`` or just the expression; only the
    part before the first ``=`` is evaluated, with exact fractions (``8 / (3 - 8 / 3)`` is 24).
    """
    text = answer.strip().splitlines()[-1] if answer.strip() else ""
    if text.lower().startswith("answer"):
        text = text.split(":", 1)[1] if ":" in text else text[len("answer") :]
    expression = text.split("=", 1)[0]
    try:
        value, used = evaluate_expression(expression)
    except ValueError:
        return False
    wanted = [int(n) for n in parse_numbers(puzzle)]
    return value == 24 and Counter(used) == Counter(wanted)


def solutions(numbers: Sequence[Fraction | int], target: int = 24, limit: int = 1) -> list[str]:
    """Up to ``limit`` expressions over ``numbers`` (each once) equal to ``target``, exactly.

    Brute force over pairs; fine for four numbers.
    """
    found: list[str] = []

    def search(items: list[tuple[Fraction, str]]) -> None:
        if len(found) >= limit:
            return
        if len(items) == 1:
            if items[0][0] == target:
                found.append(items[0][1])
            return
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (a, ea), (b, eb) = items[i], items[j]
                rest = [items[k] for k in range(len(items)) if k not in (i, j)]
                for value, expr in _combine(a, ea, b, eb):
                    search([*rest, (value, expr)])
                    if len(found) >= limit:
                        return

    search([(Fraction(n), _fmt(Fraction(n))) for n in numbers])
    return [e[1:-1] if e.startswith("(") and e.endswith(")") else e for e in found]


def _fmt(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _combine(a: Fraction, ea: str, b: Fraction, eb: str) -> list[tuple[Fraction, str]]:
    out = [(a + b, f"({ea} + {eb})"), (a * b, f"({ea} * {eb})")]
    out += [(a - b, f"({ea} - {eb})"), (b - a, f"({eb} - {ea})")]
    if b != 0:
        out.append((a / b, f"({ea} / {eb})"))
    if a != 0:
        out.append((b / a, f"({eb} / {ea})"))
    return out
