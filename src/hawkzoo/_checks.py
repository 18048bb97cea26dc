"""Rules for settings: what a value must be, and the words that say so in the error."""

import dataclasses
import math
import numbers
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import InputError


@dataclasses.dataclass(frozen=True)
class Rule:
    """`allowed` says in words what `ok` accepts (`"an integer ≥ 1"`)."""

    allowed: str
    ok: Callable[[Any], bool]

    def check(self, name: str, value: Any) -> None:
        """Raise an `InputError` naming `name`, the allowed values and `value`."""
        try:
            good = bool(self.ok(value))
        except (TypeError, ValueError):
            good = False
        if not good:
            raise InputError(f"{name} must be {self.allowed}, got {value!r}")


def check_fields(owner: object, rules: Mapping[str, Rule]) -> None:
    """Check each field of the dataclass `owner` against its rule."""
    for name, rule in rules.items():
        rule.check(f"{type(owner).__name__}.{name}", getattr(owner, name))


def is_integer(value: Any) -> bool:
    """An int (NumPy's too), never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(minimum: int, maximum: int | None = None) -> Rule:
    if maximum is not None:
        allowed = f"an integer in [{minimum}, {maximum}]"
    else:
        allowed = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
    return Rule(
        allowed,
        lambda v: is_integer(v) and minimum <= v and (maximum is None or v <= maximum),
    )


def number(interval: str) -> Rule:
    """A finite real number in `interval`, written `"[0, 1)"` or `"(0, inf)"`."""
    low, high = (float(end) for end in interval[1:-1].split(","))
    above = (lambda v: v > low) if interval[0] == "(" else (lambda v: v >= low)
    below = (lambda v: v < high) if interval[-1] == ")" else (lambda v: v <= high)
    if high == math.inf:
        allowed = f"a finite number {'>' if interval[0] == '(' else '≥'} {low:g}"
    else:
        allowed = f"a number in {interval}"
    return Rule(
        allowed,
        lambda v: (
            isinstance(v, numbers.Real)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and above(v)
            and below(v)
        ),
    )


def text(choices: Collection[str] | None = None) -> Rule:
    if choices is None:
        return Rule("a string", lambda v: isinstance(v, str))
    return Rule(f"one of {', '.join(choices)}", lambda v: isinstance(v, str) and v in choices)


def texts(choices: Collection[str] | None = None) -> Rule:
    """A list of strings (from `choices`, and at least one, when given)."""
    allowed = (
        "a list of strings" if choices is None else f"a non-empty list of {', '.join(choices)}"
    )
    return Rule(
        allowed,
        lambda v: (
            not isinstance(v, str | bytes | Mapping)
            and all(isinstance(item, str) and (choices is None or item in choices) for item in v)
            and (choices is None or len(v) > 0)
        ),
    )


FLAG = Rule("true or false", lambda v: isinstance(v, bool))
TABLE = Rule(
    "a table of settings",
    lambda v: isinstance(v, Mapping) and all(isinstance(key, str) for key in v),
)


def optional(rule: Rule) -> Rule:
    return Rule(f"{rule.allowed} or None", lambda v: v is None or rule.ok(v))
