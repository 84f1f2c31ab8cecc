r"""Built-in worked examples for few-shot prompting when no train split is at hand.

They are original problems written for matheval (never benchmark test items), each with a full
solution that ends in \boxed{}. `WORD` suits grade-school word problems, `COMPETITION` suits
MATH-style and olympiad sets.
"""

from __future__ import annotations

from .problem import Problem


def _example(style: str, number: int, question: str, solution: str, answer: str) -> Problem:
    return Problem(
        id=f"builtin-{style}-{number}",
        question=question,
        answer=answer,
        solution=solution,
        metadata={"source": "matheval built-in example"},
    )


WORD: tuple[Problem, ...] = (
    _example(
        "word", 1,
        "A baker makes 24 muffins in the morning and 18 muffins in the afternoon. She packs them "
        "into boxes of 6. How many boxes does she fill?",
        "She makes 24 + 18 = 42 muffins.\nEach box holds 6 muffins, so she fills 42 / 6 = 7 boxes.\n"
        "The answer is \\boxed{7}.",
        "7",
    ),
    _example(
        "word", 2,
        "Leo reads 15 pages on each weekday and 25 pages on each day of the weekend. How many pages "
        "does he read in one week?",
        "There are 5 weekdays, so he reads 5 * 15 = 75 pages on weekdays.\n"
        "There are 2 weekend days, so he reads 2 * 25 = 50 pages on the weekend.\n"
        "In total he reads 75 + 50 = 125 pages.\nThe answer is \\boxed{125}.",
        "125",
    ),
    _example(
        "word", 3,
        "Six friends buy concert tickets at $40 each and pay a single $12 booking fee. They split the "
        "whole cost equally. How many dollars does each friend pay?",
        "The tickets cost 6 * 40 = 240 dollars.\nWith the fee the total is 240 + 12 = 252 dollars.\n"
        "Each friend pays 252 / 6 = 42 dollars.\nThe answer is \\boxed{42}.",
        "42",
    ),
    _example(
        "word", 4,
        "A water tank holds 500 liters and is 30% full. How many more liters are needed to fill it?",
        "30% is 0.3, so the tank now holds 0.3 * 500 = 150 liters.\n"
        "It needs 500 - 150 = 350 more liters.\nThe answer is \\boxed{350}.",
        "350",
    ),
    _example(
        "word", 5,
        "Priya is 3 times as old as her brother, who is 7 years old. How old will Priya be in 5 years?",
        "Priya is 3 * 7 = 21 years old now.\nIn 5 years she will be 21 + 5 = 26 years old.\n"
        "The answer is \\boxed{26}.",
        "26",
    ),
    _example(
        "word", 6,
        "A train travels at 80 kilometers per hour for 2.5 hours and then at 60 kilometers per hour "
        "for 1.5 hours. How many kilometers does it travel in total?",
        "In the first part it travels 80 * 2.5 = 200 kilometers.\n"
        "In the second part it travels 60 * 1.5 = 90 kilometers.\n"
        "In total it travels 200 + 90 = 290 kilometers.\nThe answer is \\boxed{290}.",
        "290",
    ),
    _example(
        "word", 7,
        "A shop sells pencils in packs of 12 for $3 a pack. How many dollars do 60 pencils cost?",
        "60 pencils make 60 / 12 = 5 packs.\nFive packs cost 5 * 3 = 15 dollars.\n"
        "The answer is \\boxed{15}.",
        "15",
    ),
    _example(
        "word", 8,
        "Maria earns $15 per hour. She works 6 hours on Monday and 4 hours on Tuesday, then spends "
        "$45 on groceries. How many dollars of her earnings are left?",
        "She works 6 + 4 = 10 hours.\nShe earns 10 * 15 = 150 dollars.\n"
        "After groceries she has 150 - 45 = 105 dollars left.\nThe answer is \\boxed{105}.",
        "105",
    ),
)


COMPETITION: tuple[Problem, ...] = (
    _example(
        "competition", 1,
        "What is the remainder when $7^{100}$ is divided by $5$?",
        "Since $7 \\equiv 2 \\pmod 5$, we need $2^{100} \\bmod 5$. The powers of $2$ modulo $5$ "
        "are $2, 4, 3, 1$ and then repeat with period $4$. As $100$ is a multiple of $4$, "
        "$2^{100} \\equiv 1 \\pmod 5$.\nThe answer is $\\boxed{1}$.",
        "1",
    ),
    _example(
        "competition", 2,
        "Solve for $x$: $3x - 7 = 2x + 5$.",
        "Subtracting $2x$ from both sides gives $x - 7 = 5$, and adding $7$ gives $x = 12$.\n"
        "The answer is $\\boxed{12}$.",
        "12",
    ),
    _example(
        "competition", 3,
        "How many positive divisors does $360$ have?",
        "Factor $360 = 2^3 \\cdot 3^2 \\cdot 5$. A divisor chooses an exponent of $2$ from $0$ to $3$, "
        "of $3$ from $0$ to $2$ and of $5$ from $0$ to $1$, so there are "
        "$(3+1)(2+1)(1+1) = 24$ divisors.\nThe answer is $\\boxed{24}$.",
        "24",
    ),
    _example(
        "competition", 4,
        "Find the sum of the roots of $x^2 - 9x + 14 = 0$.",
        "The quadratic factors as $(x - 2)(x - 7) = 0$, so the roots are $2$ and $7$ and their sum "
        "is $2 + 7 = 9$.\nThe answer is $\\boxed{9}$.",
        "9",
    ),
    _example(
        "competition", 5,
        "Two fair six-sided dice are rolled. What is the probability that the sum of the numbers "
        "shown is $8$? Express your answer as a common fraction.",
        "There are $6 \\cdot 6 = 36$ equally likely outcomes. A sum of $8$ comes from "
        "$(2,6), (3,5), (4,4), (5,3), (6,2)$, which is $5$ outcomes. The probability is "
        "$\\frac{5}{36}$.\nThe answer is $\\boxed{\\frac{5}{36}}$.",
        "\\frac{5}{36}",
    ),
    _example(
        "competition", 6,
        "A right triangle has legs of length $9$ and $12$. What is the length of its hypotenuse?",
        "By the Pythagorean theorem the hypotenuse is $\\sqrt{9^2 + 12^2} = \\sqrt{81 + 144} = "
        "\\sqrt{225} = 15$.\nThe answer is $\\boxed{15}$.",
        "15",
    ),
    _example(
        "competition", 7,
        "Compute $\\dbinom{8}{3}$.",
        "$\\dbinom{8}{3} = \\frac{8 \\cdot 7 \\cdot 6}{3 \\cdot 2 \\cdot 1} = \\frac{336}{6} = 56$.\n"
        "The answer is $\\boxed{56}$.",
        "56",
    ),
    _example(
        "competition", 8,
        "What is the least common multiple of $12$, $18$ and $30$?",
        "Factor: $12 = 2^2 \\cdot 3$, $18 = 2 \\cdot 3^2$, $30 = 2 \\cdot 3 \\cdot 5$. The least "
        "common multiple takes the highest power of each prime: $2^2 \\cdot 3^2 \\cdot 5 = 180$.\n"
        "The answer is $\\boxed{180}$.",
        "180",
    ),
)

BUILTIN_EXAMPLES: dict[str, tuple[Problem, ...]] = {"word": WORD, "competition": COMPETITION}
