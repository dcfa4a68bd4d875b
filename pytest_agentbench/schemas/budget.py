"""Budget factors: ``turns``, ``tokens`` and ``seconds`` as a variant or a registry
entry sets them - a number (``turns=30``) or a multiple of the canary's own budget (``turns=x2``).

A multiple is what a sweep over canaries of different tiers needs: a heavy canary's 40 turns and
a lite one's 15 both double with ``x2``, where one number would raise one and cut the other.
No project imports: schemas/models.py (the registry's fields) and the option parsing both use them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator

from pytest_agentbench.errors import AgentbenchError

BUDGET_KEYS = ("turns", "tokens", "seconds")


class BudgetValueError(AgentbenchError, ValueError):
    """A budget value that cannot be used; the message says what is expected."""


def parse_budget(key: str, value: Any) -> int | float | str:
    """A checked budget value: a positive number (a whole one for turns and tokens), or
    ``"xF"`` with F > 0 (returned as written, normalised: ``"x2"``)."""
    whole = key != "seconds"
    expected = (f"expected a positive {'whole ' if whole else ''}number or a multiple of the "
                f"canary's budget such as x2")
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("x", "X"):
            try:
                factor = float(text[1:])
            except ValueError:
                raise BudgetValueError(f"{value!r}: {expected}") from None
            if not math.isfinite(factor) or factor <= 0:
                raise BudgetValueError(f"{value!r}: the multiple must be above 0")
            return f"x{factor:g}"
        try:
            value = float(text)
        except ValueError:
            raise BudgetValueError(f"{value!r}: {expected}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BudgetValueError(f"{value!r}: {expected}")
    if value <= 0 or (whole and value != int(value)):
        raise BudgetValueError(f"{value!r}: {expected}")
    return int(value) if whole else float(value)


def apply_budget(key: str, canary_value: float, value: float | str | None) -> int | float:
    """The budget in force: the variant's number, or the canary's budget times its multiple
    (rounded up for turns and tokens: x1.5 of 5 turns is 8, never less than asked for)."""
    if value is None:
        return canary_value
    if isinstance(value, str):
        raised = canary_value * float(value[1:])
        return math.ceil(raised) if key != "seconds" else raised
    return value


def _field(key: str) -> Any:
    """A registry field holding a budget value, checked when the entry is read."""
    return Annotated[int | float | str | None,
                     BeforeValidator(lambda value: None if value is None else parse_budget(key, value))]


TurnsValue = _field("turns")
TokensValue = _field("tokens")
SecondsValue = _field("seconds")
