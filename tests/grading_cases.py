"""Free-form (response, gold, verdict) cases, one group per class of grading error named in issue 16.

Written for this project (not taken from any other grader's tests). Each verdict is what a careful human
grader would say. tests/test_grading_freeform.py checks matheval on all of them and that no class does
worse than plain math-verify; benchmarks/grading_speed.py prints both agreements per class.
"""

from __future__ import annotations

# (class, response, gold, correct?)
CASES: list[tuple[str, str, str, bool]] = []


def _add(name: str, rows: list[tuple[str, str, bool]]) -> None:
    CASES.extend((name, response, gold, verdict) for response, gold, verdict in rows)


# 1. No box: the answer is LaTeX in the final sentence.
_add("latex_final_sentence", [
    (r"Solving the inequality step by step, hence $y \leq 7$ holds.", r"y \le 7", True),
    (r"Subtracting 3 from both sides, we conclude that $y \leq 7$.", r"y \leq 7", True),
    (r"We subtract 3 and get $y \leq 7$.", r"y \leq 8", False),
    (r"Row reducing, the inverse is $\begin{pmatrix} 2 & -1 \\ -1 & 1 \end{pmatrix}$.",
     r"\begin{pmatrix} 2 & -1 \\ -1 & 1 \end{pmatrix}", True),
    (r"Row reducing, the inverse is $\begin{pmatrix} 2 & -1 \\ -1 & 1 \end{pmatrix}$.",
     r"\begin{pmatrix} 1 & -1 \\ -1 & 2 \end{pmatrix}", False),
    (r"Multiplying out, we get \[\begin{pmatrix} 3 \\ 7 \end{pmatrix}.\]", r"\begin{pmatrix} 3 \\ 7 \end{pmatrix}", True),
    ("Final answer: the smallest $k$ is 12.", "12", True),
    ("Final answer: the smallest $k$ is 12.", "13", False),
    (r"Since $f(2) = 5$, the value we want is $\frac{3}{4}$.", r"\frac34", True),
    (r"Combining, the area is $12\pi$ square units.", r"12\pi", True),
    (r"Combining, the area is $12\pi$ square units.", r"6\pi", False),
    (r"Therefore the solutions are $x = 2$ and $x = -3$.", "2, -3", True),
    (r"Therefore the solutions are $x = 2$ and $x = -3$.", "2, 3", False),
    (r"Putting it together, the interval is $(-\infty, 4]$.", r"(-\infty, 4]", True),
    (r"Putting it together, the interval is $(-\infty, 4)$.", r"(-\infty, 4]", False),
    (r"Expanding gives $x^2 + 2x + 1$, which is the polynomial.", "(x+1)^2", True),
    (r"The distance between them is $\sqrt{13}$ units.", r"\sqrt{13}", True),
    (r"With $a = 3$ we find $b = 2\sqrt{5}$.", r"2\sqrt5", True),
    ("She started with 20 apples, gave 8 away and has 12 left.", "12", True),
    (r"The cost of $3$ pens is 45 dollars in total.", "45", True),
    (r"So $z = 3 - 4i$.", "3-4i", True),
])

# 2. Several boxes that together make the answer (read together only when the gold has several parts).
_add("several_boxes", [
    (r"The pairs are $\boxed{(1, 3)} \text{ and } \boxed{(4, 5)}$.", "(1,3),(4,5)", True),
    (r"The pairs are $\boxed{(1, 3)} \text{ and } \boxed{(4, 6)}$.", "(1,3),(4,5)", False),
    (r"The roots are $\boxed{2}, \boxed{5}$.", r"\{2, 5\}", True),
    (r"The roots are $\boxed{2}, \boxed{5}$.", "2, 5", True),
    (r"The roots are $\boxed{2}$ and $\boxed{5}$.", "5, 2", True),
    (r"The roots are $\boxed{2}, \boxed{4}$.", r"\{2, 5\}", False),
    (r"$x = \boxed{-1}$ or $x = \boxed{3}$", "-1, 3", True),
    (r"$\boxed{1}$, $\boxed{2}$, $\boxed{3}$", "1,2,3", True),
    (r"$\boxed{1}$, $\boxed{2}$", "1,2,3", False),
    (r"First guess \boxed{4}. After checking, the answer is \boxed{6}.", "6", True),
    (r"First guess \boxed{4}. After checking, the answer is \boxed{6}.", "4", False),
    (r"\boxed{3} \quad \boxed{7}", r"3 \text{ and } 7", True),
    (r"The two values are $\boxed{a=2}$ and $\boxed{b=5}$.", "a=2, b=5", True),
    (r"Ordered, the coordinates are \boxed{3}, \boxed{1}.", "(1, 3)", False),
])

# 3. Decimal comma against a gold with a decimal point.
_add("decimal_comma", [
    ("The answer is 3,75", "3.75", True),
    (r"So the price is \boxed{3,75} euros.", "3.75", True),
    (r"\boxed{0,5}", "0.5", True),
    (r"\boxed{12,25}", "12.25", True),
    (r"\boxed{3,76}", "3.75", False),
    (r"\boxed{2{,}5}", "2.5", True),
    (r"\boxed{1,000}", "1000", True),  # thousands, not a decimal comma
    (r"\boxed{1,500}", "1.5", False),  # three digits after the comma: thousands
    (r"\boxed{1,2}", "1, 2", True),  # the gold lists two values
    (r"\boxed{2, 1}", "1,2", True),
    ("The answer is 7,5.", "7.5", True),
    ("The answer is 7,5.", "75", False),
])

# 4. Relations written with other operators; matrices in prose.
_add("relations", [
    (r"\boxed{x >= 5}", r"x \geq 5", True),
    (r"\boxed{x \ge 5}", r"x \geq 5", True),
    (r"\boxed{x \geqslant 5}", r"x \ge 5", True),
    (r"\boxed{x > 5}", r"x \geq 5", False),
    (r"\boxed{x <= -2}", r"x \leq -2", True),
    (r"\boxed{x \le -2}", r"x \leq -2", True),
    (r"\boxed{x != 3}", r"x \neq 3", True),
    (r"\boxed{x \ne 3}", r"x \neq 3", True),
    (r"\boxed{x \neq 4}", r"x \ne 3", False),
    (r"\boxed{x \lt 3}", "x < 3", True),
    (r"\boxed{x < 3}", r"x \lt 3", True),
    (r"\boxed{x \gt 3}", "x > 3", True),
    (r"\boxed{x \gt 3}", "x < 3", False),
    ("The answer is $x ≥ 2$.", r"x \geq 2", True),
    (r"\boxed{2 < x \le 5}", r"2 < x \leq 5", True),
    ("The matrix is [[1, 2], [3, 4]].", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", True),
    (r"\boxed{[[1, 2], [3, 4]]}", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", True),
    (r"\boxed{[[1, 2], [4, 3]]}", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", False),
    (r"So the product is $\begin{bmatrix} 1 & 0 \\ 0 & 1 \end{bmatrix}$.", r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}", True),
])

# 5. Long decimals of exact values: accepted with 8+ significant digits, rounded or cut at the last one.
_add("long_decimal", [
    (r"\boxed{0.142857142857}", r"\frac{1}{7}", True),
    (r"\boxed{0.14285714}", r"\frac{1}{7}", True),
    (r"\boxed{0.14285715}", r"\frac{1}{7}", False),  # neither rounded nor cut: wrong in its last digit
    (r"\boxed{0.142857}", r"\frac{1}{7}", False),  # too short to stand for the exact value
    (r"\boxed{0.6666666667}", r"\frac{2}{3}", True),
    (r"\boxed{0.6666666666}", r"\frac{2}{3}", True),
    (r"\boxed{0.333333}", r"\frac{1}{3}", False),
    (r"\boxed{0.473684}", r"\frac9{19}", False),
    (r"\boxed{0.47368421}", r"\frac9{19}", True),
    (r"\boxed{1.41421356}", r"\sqrt{2}", True),
    (r"\boxed{1.414214}", r"\sqrt{2}", False),
    (r"\boxed{3.14159265}", r"\pi", True),
    (r"\boxed{3.14159266}", r"\pi", False),
    (r"\boxed{12}", "12.5", False),
    (r"\boxed{12.5}", "12", False),
    (r"\boxed{12.0000001}", "12", False),
    (r"\boxed{2.82842712}", r"2\sqrt{2}", True),
])

# 6. <think> reasoning before the answer.
_add("think", [
    ("<think>Maybe it is 7. No, recount: 5.</think>\nThe answer is $5$.", "5", True),
    ("<think>Maybe it is 7. No, recount: 5.</think>\nThe answer is $5$.", "7", False),
    (r"<think>try \boxed{3}</think> so the total is \boxed{4}", "4", True),
    (r"<think>try \boxed{3}</think> so the total is \boxed{4}", "3", False),
    ("Let me think about 9 and 12.</think>So she has 21 marbles.", "21", True),  # the template opened it
    ("Let me think about 9 and 12.</think>So she has 21 marbles.", "12", False),
    ("<think>Counting: 3, then 8, then 14</think>\n\n**Final answer:** 14", "14", True),
    ("<think>The sum is 14, the answer is 14", "14", False),  # never closed: no answer yet
    (r"<think>so \boxed{14}", "14", False),
    (r"<think>First 2, then 6.</think> Therefore $x = 6$.", "6", True),
    (r"<think>hmm</think><think>second pass: 40</think> The answer is 41.", "41", True),
])

# 7. Ordered answers: a list in another order is not the gold when the gold is ordered.
_add("ordered", [
    (r"The ordered pair is $\boxed{(2, 1)}$.", "(1, 2)", False),
    (r"The ordered pair is $\boxed{(1, 2)}$.", "(1, 2)", True),
    (r"\boxed{(3, 2, 1)}", "(1, 2, 3)", False),
    (r"\boxed{3, 2, 1}", "(1, 2, 3)", False),
    (r"\boxed{1, 2, 3}", "(1, 2, 3)", True),
    (r"\boxed{\left(5, -2\right)}", "(-2, 5)", False),
    (r"\boxed{\begin{pmatrix} 2 \\ 1 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", False),
    (r"\boxed{(\frac{\pi}{2}, 3)}", r"\left( 3, \frac{\pi}{2} \right)", False),
    (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"(3, \frac{\pi}{2})", True),
    (r"\boxed{[3, 2, 1]}", "[1, 2, 3]", False),
    (r"$\boxed{1}, \boxed{2}$", "(2, 1)", False),
    (r"$\boxed{2}, \boxed{1}$", "(2, 1)", True),
    (r"\boxed{3, 1, 2}", "1, 2, 3", True),  # the gold is a set of values: order does not matter
    ("So the point is $(4, -1)$.", "(4,-1)", True),
    ("So the point is $(-1, 4)$.", "(4,-1)", False),
])

# Errors found on the generated pair set.
_add("pair_set_errors", [
    (r"The answer is $\$32,\!348$.", "32348", True),
    (r"The answer is $\$32,\!348$.", "32349", False),
    (r"The answer is \$1,250.", "1250", True),
    (r"\boxed{2.5e4}", "25000", True),
    (r"\boxed{2.5E4}", "25000", True),
    (r"\boxed{2.5 \times 10^4}", "25000", True),
    (r"\boxed{2.5 \times 10^{4}}", "2500", False),
    (r"\boxed{2.5e4}", "2.5e4", True),
    (r"\boxed{0.473684}", r"\frac9{19}", False),
    (r"\boxed{\frac{9}{19}}", r"\frac9{19}", True),
    (r"\boxed{\frac{270}{7}^\circ}", r"\frac{270}7^\circ", True),
    (r"\boxed{\frac{270}{7}°}", r"\frac{270}{7}^\circ", True),
    (r"\boxed{38.5714}", r"\frac{270}7^\circ", False),
])

# Our exact rules, kept where they are better than plain math-verify.
_add("exact_rules", [
    (r"The answer is 12.", "12.5", False),
    (r"The answer is 12.5.", "12", False),
    (r"#### 12.5", "12.5", True),
    (r"\boxed{Amy}", "May", False),
    (r"\boxed{\text{Evelyn}}", "Evelyn", True),
    (r"The answer is Evelyn.", "Evelyn", True),
    (r"\boxed{\text{odd}}", r"\text{even}", False),
    (r"\boxed{50\%}", "0.5", True),
    (r"\boxed{50\%}", "50", True),
    (r"\boxed{50\%}", "5", False),
    (r"She has \boxed{18} dollars.", r"\$18", True),
    (r"\boxed{1,000,000}", "1000000", True),
    (r"\boxed{100000000000000000001}", "100000000000000000000", False),
    (r"\boxed{\textbf{(073)}}", "073", True),
])

_add("long_decimal", [
    (r"\boxed{13.287197}", r"\frac{3840}{289}", False),  # 8 digits, but a rounding to 6 places
    (r"\boxed{13.2871972}", r"\frac{3840}{289}", True),
])
