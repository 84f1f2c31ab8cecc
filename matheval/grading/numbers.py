"""Plain numeric answers, read exactly: the values they may mean, and the one rule for long decimals.

``1,000``, ``-2.5``, ``\\frac{3}{4}``, ``\\frac9{19}``, ``50\\%``, ``90^\\circ``, ``5 \\text{ cm}``, ``x = 5``,
``2.5e4`` and ``2.5 \\times 10^{4}`` are numbers; a decimal comma (``3,75``) is one only where the caller
says the gold answer is a decimal. Values are rationals, so 12.5 is never 12.

The long-decimal rule: a decimal written with at least ``LONG_DECIMAL_DIGITS`` significant digits and
at least ``LONG_DECIMAL_PLACES`` digits after the point equals an exact value when it is that value rounded
or cut at its last written digit (``0.142857142857`` and ``0.14285714`` are 1/7). Shorter decimals must be
exact: 0.333333 is not 1/3, 0.473684 is not 9/19, 13.287197 (a rounding to 6 places) is not 3840/289, and
12.5 is not 12.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

LONG_DECIMAL_DIGITS = 8
LONG_DECIMAL_PLACES = 7  # more than the 6 places a calculator-style rounding (and math-verify) uses

TEXT_COMMAND = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|rm)\s*\{([^{}]*)\}")
_PLAIN = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+"
_ARGUMENT = rf"\{{(?:{_PLAIN})\}}|\d"
_FRACTION = re.compile(
    rf"(?P<sign>[+-]?)\\frac(?P<num>{_ARGUMENT})(?P<den>{_ARGUMENT})"  # \frac{3}{4}, \frac34, \frac9{19}
    rf"|(?P<num2>{_PLAIN})/(?P<den2>{_PLAIN})"
)
_SCIENTIFIC = re.compile(
    r"(?P<mantissa>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]|(?:\\times|\\cdot|\*|×)10\^)\{?(?P<exponent>[+-]?\d+)\}?"
)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d+|\.\d+)")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")
_UNIT_WORDS = re.compile(r"(?:\s+[A-Za-z]{2,}\.?)+$")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")


@dataclass(frozen=True)
class Number:
    """The exact values a numeric answer may mean (a percentage means two), and its decimal as written
    when it is a plain decimal (for the long-decimal rule)."""

    values: frozenset[Fraction]
    decimal: str | None = None

    def equals(self, gold: Number) -> bool:
        if not self.values.isdisjoint(gold.values):
            return True
        return (self.decimal is not None and any(decimal_matches(value, self.decimal) for value in gold.values)) or (
            gold.decimal is not None and any(decimal_matches(value, gold.decimal) for value in self.values))


def parse_number(answer: str, decimal_comma: bool = False) -> Number | None:
    """The number an answer is, or None if it is not a plain number.

    A percentage may mean either value (``50\\%`` is 50 or 0.5): gold answers write it both ways.
    """
    text = TEXT_COMMAND.sub(lambda m: " " + m.group(1) + " ", answer)
    text = re.sub(r"\\[,;:!]", "", text).replace("{,}", ",").replace("\u2212", "-")  # 1\\,000 10{,}000 −5
    text = re.sub(r"\\ |~|\\\$|\$", " ", text).strip()
    text = _ASSIGNMENT.sub("", text)
    text = _UNIT_WORDS.sub("", text)
    text = re.sub(r"\^\s*\{?\\circ\}?|°|\\degree", "", text)
    text = re.sub(r"\\[dt]frac", r"\\frac", text).replace(" ", "")  # as in LaTeX: "1 000" is 1000
    percent = text.endswith("%")
    text = text.removesuffix("\\%").removesuffix("%")
    if text.startswith("(") and text.endswith(")"):  # "(073)", as AoPS writes a choice's value
        text = text[1:-1]
    if decimal_comma and _DECIMAL_COMMA.fullmatch(text) and not _THOUSANDS.fullmatch(text):
        text = text.replace(",", ".")
    value = _exact(text)
    if value is None:
        return None
    decimal = text.replace(",", "") if _DECIMAL.fullmatch(text.replace(",", "")) else None
    if percent:
        return Number(frozenset({value, value / 100}))
    return Number(frozenset({value}), decimal)


def decimal_matches(value: Fraction, written: str) -> bool:
    """The long-decimal rule (module docstring): `written` has enough significant digits and is `value`
    rounded or cut at its last digit."""
    if not _DECIMAL.fullmatch(written):
        return False
    digits = written.lstrip("+-").replace(".", "").lstrip("0")
    places = len(written.split(".", 1)[1])
    if len(digits) < LONG_DECIMAL_DIGITS or places < LONG_DECIMAL_PLACES:
        return False
    scale = 10**places
    target = Fraction(written) * scale
    scaled = value * scale
    cut = math.trunc(scaled)
    rounded = math.floor(abs(scaled) + Fraction(1, 2)) * (1 if scaled >= 0 else -1)
    return target in (cut, rounded)


def _exact(text: str) -> Fraction | None:
    if re.fullmatch(_PLAIN, text):
        return Fraction(text.replace(",", ""))
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific:
        exponent = int(scientific["exponent"])
        if abs(exponent) > 400:
            return None
        return Fraction(scientific["mantissa"]) * Fraction(10) ** exponent
    match = _FRACTION.fullmatch(text)
    if not match:
        return None
    numerator = (match["num"] or match["num2"]).strip("{}")
    denominator = (match["den"] or match["den2"]).strip("{}")
    den = Fraction(denominator.replace(",", ""))
    if den == 0:
        return None
    value = Fraction(numerator.replace(",", "")) / den
    return -value if match["sign"] == "-" else value
