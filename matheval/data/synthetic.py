"""`synthetic`: multi-step arithmetic word problems generated from templates, with exact answers.

It needs no download, so it is the dataset of `make demo` and of tests that must run offline.
Each problem is built from its own `random.Random(seed * 1_000_003 + index)`, so problem i is the
same whatever the count, the Python version or PYTHONHASHSEED. The answer is computed alongside
the text, step by step; the solution lists those steps ("Cost of the pens: 3 * 4 = 12 dollars.")
and ends "The answer is X." Difficulty levels 1-5 add steps and enlarge the numbers; level 1 is one
or two operations on small numbers.
"""

from __future__ import annotations

import math
import random
from typing import Callable

from .problem import Problem

SYNTHETIC_SIZE = 500
LEVELS = (1, 2, 3, 4, 5)
SPLIT_SEEDS = {"test": 2024, "train": 7}  # different seeds keep few-shot examples off the test set

NAMES = (
    "Mia", "Leo", "Ava", "Noah", "Zoe", "Omar", "Lily", "Ravi", "Emma", "Sam",
    "Nora", "Ken", "Aisha", "Ben", "Chloe", "Diego", "Hana", "Ivan", "Julia", "Kofi",
)


class _Work:
    """Records each arithmetic step as a solution line and returns its exact integer result."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def calc(self, label: str, a: int, op: str, b: int, unit: str = "") -> int:
        if op == "+":
            value = a + b
        elif op == "-":
            value = a - b
        elif op == "*":
            value = a * b
        elif op == "/":
            if b == 0 or a % b:
                raise AssertionError(f"inexact division {a} / {b}")
            value = a // b
        else:
            raise AssertionError(f"unknown operation {op}")
        if value < 0:
            raise AssertionError(f"negative intermediate {a} {op} {b}")
        self.lines.append(f"{label}: {a} {op} {b} = {value}{unit}.")
        return value


def _distinct(rng: random.Random, items: tuple, k: int) -> list:
    """k different items in random order (randrange only: stable across Python versions)."""
    pool = list(items)
    return [pool.pop(rng.randrange(len(pool))) for _ in range(k)]


def _divisors(n: int, low: int, high: int) -> list[int]:
    return [d for d in range(low, high + 1) if n % d == 0]


def _sentence_list(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --- templates: each returns (question, answer) and writes its steps into `work` -------------------

ITEMS = (
    ("notebook", "notebooks"), ("pen", "pens"), ("apple", "apples"), ("sandwich", "sandwiches"),
    ("comic book", "comic books"), ("candle", "candles"), ("mug", "mugs"), ("ball", "balls"),
)


def shopping(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Buy a few kinds of items, maybe use a coupon, pay: how much change?"""
    name = rng.choice(NAMES)
    kinds = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3}[level]
    max_price = {1: 9, 2: 15, 3: 20, 4: 30, 5: 45}[level]
    max_qty = {1: 5, 2: 6, 3: 8, 4: 10, 5: 12}[level]
    parts, costs = [], []
    for singular, plural in _distinct(rng, ITEMS, kinds):
        qty, price = rng.randint(2, max_qty), rng.randint(2, max_price)
        parts.append(f"{qty} {plural} for ${price} each")
        costs.append(work.calc(f"Cost of the {plural}", qty, "*", price, " dollars"))
    total = costs[0]
    for cost in costs[1:]:
        total = work.calc("Total so far", total, "+", cost, " dollars")
    text = f"{name} buys {_sentence_list(parts)}."
    if level in (3, 5):
        coupon = rng.randint(2, max(2, total // 4))
        text += f" {name} uses a coupon for ${coupon} off the total."
        total = work.calc("Total after the coupon", total, "-", coupon, " dollars")
    step = 10 if total < 100 else 50 if total < 500 else 100
    paid = (total // step + 1) * step
    change = work.calc("Change", paid, "-", total, " dollars")
    text += f" {name} pays with ${paid}. How many dollars of change does {name} get back?"
    return text, change


def travel(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Drive at a few speeds towards a city: distance left, or hours still needed."""
    name = rng.choice(NAMES)
    legs = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3}[level]
    speeds = [5 * rng.randint(6, 8 + 2 * level) for _ in range(legs)]
    hours = [rng.randint(1, 2 + level // 2) for _ in range(legs)]
    last_speed = 5 * rng.randint(6, 8 + 2 * level)
    last_hours = rng.randint(1, 3 + level // 2)
    remaining_planned = last_speed * last_hours if level >= 3 else 10 * rng.randint(2, 6 + 4 * level)
    driven = [work.calc(f"Distance in part {k + 1}", v, "*", h, " km")
              for k, (v, h) in enumerate(zip(speeds, hours))]
    total = driven[0]
    for more in driven[1:]:
        total = work.calc("Distance driven so far", total, "+", more, " km")
    city = total + remaining_planned
    pieces = [f"at {v} km per hour for {h} hour{'s' if h > 1 else ''}" for v, h in zip(speeds, hours)]
    text = f"{name} is driving to a city {city} km away. {name} drives " + ", then ".join(pieces) + "."
    remaining = work.calc("Distance still to go", city, "-", total, " km")
    if level <= 2:
        return text + f" How many kilometers does {name} still have to drive?", remaining
    rest_hours = work.calc("Hours for the rest", remaining, "/", last_speed, " hours")
    if level <= 4:
        text += (f" If {name} drives the rest of the way at {last_speed} km per hour, how many more "
                 "hours will it take?")
        return text, rest_hours
    spent = hours[0]
    for h in hours[1:]:
        spent = work.calc("Hours driven so far", spent, "+", h, " hours")
    whole = work.calc("Hours for the whole trip", spent, "+", rest_hours, " hours")
    text += (f" If {name} drives the rest of the way at {last_speed} km per hour, how many hours "
             "does the whole trip take?")
    return text, whole


def ages(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """A family's ages from differences and multiples: a future age or a sum of ages."""
    name = rng.choice(NAMES)
    sibling = rng.choice([n for n in NAMES if n != name])
    own = rng.randint(3, 6 + 2 * level)
    gap = rng.randint(2, 4 + level)
    later = rng.randint(2, 3 + 2 * level)
    text = f"{name} is {own} years old. {sibling} is {gap} years older than {name}."
    sibling_age = work.calc(f"{sibling}'s age", own, "+", gap, " years")
    if level == 1:
        answer = work.calc(f"{sibling}'s age in {later} years", sibling_age, "+", later, " years")
        return text + f" How old will {sibling} be in {later} years?", answer
    factor = rng.randint(2, 3)
    text += f" Their aunt is {factor} times as old as {sibling}."
    aunt = work.calc("The aunt's age", factor, "*", sibling_age, " years")
    if level == 2:
        answer = work.calc(f"The aunt's age in {later} years", aunt, "+", later, " years")
        return text + f" How old will the aunt be in {later} years?", answer
    if level == 3:
        total = work.calc("Ages of the two children", own, "+", sibling_age, " years")
        total = work.calc("Sum of all three ages", total, "+", aunt, " years")
        return text + " What is the sum of the three ages now?", total
    extra = rng.randint(20, 30 + 5 * level)
    text += f" Their grandfather is {extra} years older than the aunt."
    grandfather = work.calc("The grandfather's age", aunt, "+", extra, " years")
    total = work.calc("Ages of the two children", own, "+", sibling_age, " years")
    total = work.calc("Adding the aunt", total, "+", aunt, " years")
    total = work.calc("Adding the grandfather", total, "+", grandfather, " years")
    if level == 4:
        return text + " What is the sum of the four ages now?", total
    growth = work.calc(f"Each of the 4 people gets {later} years older", 4, "*", later, " years")
    answer = work.calc(f"Sum of the ages in {later} years", total, "+", growth, " years")
    return text + f" What will the sum of the four ages be in {later} years?", answer


SNACKS = (("cookies", "pack", "packs"), ("stickers", "sheet", "sheets"), ("marbles", "bag", "bags"),
          ("crayons", "box", "boxes"), ("cards", "deck", "decks"), ("grapes", "bunch", "bunches"))


def sharing(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Collect items from packs, keep some, share the rest equally among friends."""
    name = rng.choice(NAMES)
    thing, container, containers = rng.choice(SNACKS)
    for _ in range(1000):  # draw until the rest divides evenly (a few draws at most)
        per_pack, packs = rng.randint(2, 12), rng.randint(2, 3 + level)
        kept = rng.randint(1, 2 + level) if level >= 2 else 0
        rest = per_pack * packs - kept
        options = [f for f in range(2, 4 + level) if rest % f == 0 and rest // f >= 2]
        if options:
            friends = rng.choice(options)
            break
    else:
        raise AssertionError("no even share found")
    if level >= 3:
        first = rng.randint(1, packs - 1)
        text = (f"{name} buys {first} {containers if first > 1 else container} of {thing} on Monday and "
                f"{packs - first} more on Tuesday. Each {container} has {per_pack} {thing}.")
        packs = work.calc(f"Number of {containers}", first, "+", packs - first, f" {containers}")
    else:
        text = f"{name} has {packs} {containers} of {thing} with {per_pack} {thing} in each."
    total = work.calc(f"Number of {thing}", packs, "*", per_pack, f" {thing}")
    if kept:
        text += f" {name} keeps {kept} {thing} and shares the rest equally among {friends} friends."
        total = work.calc(f"{thing.capitalize()} to share", total, "-", kept, f" {thing}")
    else:
        text += f" {name} shares them equally among {friends} friends."
    each = work.calc("Each friend gets", total, "/", friends, f" {thing}")
    if level <= 3:
        return text + f" How many {thing} does each friend get?", each
    given = rng.randint(1, each - 1)
    text += f" Each friend then gives away {given} of their {thing}."
    left = work.calc("Each friend has left", each, "-", given, f" {thing}")
    if level == 4:
        return text + f" How many {thing} does each friend have left?", left
    together = work.calc("All friends together", left, "*", friends, f" {thing}")
    return text + f" How many {thing} do the {friends} friends have left altogether?", together


PRODUCTS = ("chairs", "tables", "birdhouses", "shelves", "lamps", "toy cars")


def workshop(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Workers with hourly rates fill an order: how many made, left, or how many more days."""
    first, second = _distinct(rng, NAMES, 2)
    product = rng.choice(PRODUCTS)
    rate_a = rng.randint(2, 3 + level)
    rate_b = rng.randint(2, 3 + level)
    hours = rng.randint(2, 4 + level)
    days = rng.randint(2, 2 + level)
    text = f"{first} makes {rate_a} {product} per hour and works {hours} hours a day."
    daily = work.calc(f"{product.capitalize()} {first} makes per day", rate_a, "*", hours)
    if level >= 2:
        text += f" {second} makes {rate_b} {product} per hour and works the same hours."
        daily_b = work.calc(f"{product.capitalize()} {second} makes per day", rate_b, "*", hours)
        daily = work.calc("Together per day", daily, "+", daily_b)
    made = work.calc(f"{product.capitalize()} made in {days} days", daily, "*", days)
    if level == 1:
        return text + f" How many {product} does {first} make in {days} days?", made
    if level == 2:
        return text + f" How many {product} do they make together in {days} days?", made
    extra_days = rng.randint(1, 2 + level)
    order = made + daily * extra_days
    text = f"A workshop has an order for {order} {product}. " + text
    left = work.calc(f"{product.capitalize()} still to make", order, "-", made)
    if level == 3:
        return text + f" How many {product} are still to be made after {days} days?", left
    more = work.calc("Extra days needed", left, "/", daily, " days")
    if level == 4:
        return text + f" After {days} days, how many more days do they need to finish the order?", more
    total = work.calc("Days for the whole order", days, "+", more, " days")
    text += f" They have already worked {days} days."
    return text + " How many days does the whole order take in total?", total


GOODS = ("jacket", "bicycle", "lamp", "backpack", "pair of shoes", "board game", "tent")


def _discounted(rng: random.Random, level: int, work: _Work, good: str) -> tuple[str, int, int]:
    """A price and a percentage that give a whole-dollar discount: (text, price, discount)."""
    percent = rng.choice((10, 20, 25, 50) if level <= 2 else (5, 10, 15, 20, 25, 30, 40, 50, 75))
    unit = 100 // math.gcd(percent, 100)
    price = unit * rng.randint(max(1, 20 // unit), max(2, (40 * level) // unit + 2))
    scaled = work.calc("Price times the percentage", price, "*", percent)
    discount = work.calc(f"Discount on the {good}", scaled, "/", 100, " dollars")
    return f"A {good} costs ${price} and is on sale for {percent}% off.", price, discount


def discount(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Percent-off sales: the saving, the sale price, several items, change."""
    name = rng.choice(NAMES)
    good, other = _distinct(rng, GOODS, 2)
    text, price, saving = _discounted(rng, level, work, good)
    if level == 1:
        return text + f" How many dollars does {name} save by buying it on sale?", saving
    sale = work.calc(f"Sale price of the {good}", price, "-", saving, " dollars")
    if level == 2:
        return text + f" How many dollars does {name} pay for it?", sale
    qty = rng.randint(2, 4)
    text += f" {name} buys {qty} of them"
    cost = work.calc(f"Cost of {qty} at the sale price", qty, "*", sale, " dollars")
    if level == 3:
        return text + ". How many dollars does " + name + " pay?", cost
    full_price = rng.randint(5, 10 * level)
    text += f" and a {other} at its full price of ${full_price}."
    cost = work.calc(f"Adding the {other}", cost, "+", full_price, " dollars")
    if level == 4:
        return text + f" How many dollars does {name} pay in total?", cost
    paid = (cost // 50 + 1) * 50
    change = work.calc("Change", paid, "-", cost, " dollars")
    return text + f" {name} pays with ${paid}. How many dollars of change does {name} get?", change


MEASURES = (
    # material, containers, verb, big unit, small unit, factor, portion noun, portion sizes
    ("ribbon", "rolls", "measuring", "meters", "centimeters", 100, "pieces", (5, 10, 20, 25, 50)),
    ("rope", "coils", "measuring", "meters", "centimeters", 100, "pieces", (10, 20, 25, 50)),
    ("juice", "bottles", "holding", "liters", "milliliters", 1000, "glasses", (100, 125, 200, 250)),
    ("flour", "sacks", "holding", "kilograms", "grams", 1000, "bags", (100, 125, 200, 250, 500)),
)


def units(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Convert to a smaller unit, cut into equal portions, use or sell some."""
    name = rng.choice(NAMES)
    material, containers, verb, big, small, factor, noun, sizes = rng.choice(MEASURES)
    count = {1: 1, 2: 2, 3: 2, 4: 2, 5: 3}[level]
    amounts = [rng.randint(2, 3 + 2 * level) for _ in range(count)]
    size = rng.choice(sizes)
    if count == 1:
        text = f"{name} has {amounts[0]} {big} of {material}."
    else:
        listed = _sentence_list([str(a) for a in amounts])
        text = f"{name} has {count} {containers} of {material} {verb} {listed} {big}."
    total = amounts[0]
    for more in amounts[1:]:
        total = work.calc(f"{big.capitalize()} so far", total, "+", more, f" {big}")
    text += (f" There are {factor} {small} in a {big[:-1]}. {name} splits it all into {noun} of "
             f"{size} {small} each.")
    in_small = work.calc(f"In {small}", total, "*", factor, f" {small}")
    portions = work.calc(f"Number of {noun}", in_small, "/", size, f" {noun}")
    if level <= 2:
        return text + f" How many {noun} does {name} get?", portions
    used = rng.randint(1, portions // 2)
    text += f" {name} uses {used} of the {noun}."
    left = work.calc(f"{noun.capitalize()} left", portions, "-", used, f" {noun}")
    if level == 3:
        return text + f" How many {noun} are left?", left
    price = rng.randint(2, 5)
    text += f" {name} sells the rest for ${price} each."
    earned = work.calc("Money from selling", left, "*", price, " dollars")
    return text + f" How many dollars does {name} earn?", earned


WANTS = ("video game", "skateboard", "guitar", "telescope", "scooter", "camera")


def savings(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Weekly saving towards something: how much more is needed, or how many more weeks."""
    name = rng.choice(NAMES)
    want = rng.choice(WANTS)
    earn = rng.randint(8, 10 + 5 * level)
    spend = rng.randint(2, earn - 3) if level >= 2 else 0
    weeks = rng.randint(2, 3 + level)
    more_weeks = rng.randint(2, 3 + level)
    start = rng.randint(5, 10 * level) if level >= 3 else 0
    if spend:
        text = f"Each week {name} gets ${earn} and spends ${spend} of it."
        saved = work.calc("Saved each week", earn, "-", spend, " dollars")
    else:
        text = f"{name} saves ${earn} each week."
        saved = earn
    if start:
        text = f"{name} starts with ${start} in a piggy bank. " + text
    so_far = work.calc(f"Saved in {weeks} weeks", saved, "*", weeks, " dollars")
    if start:
        so_far = work.calc("With the starting money", start, "+", so_far, " dollars")
    price = so_far + saved * more_weeks
    text += f" {name} wants a {want} that costs ${price}."
    missing = work.calc("Still needed", price, "-", so_far, " dollars")
    if level <= 3:
        return text + f" After {weeks} weeks, how many more dollars does {name} need?", missing
    extra = work.calc("More weeks of saving", missing, "/", saved, " weeks")
    if level == 4:
        return text + f" After {weeks} weeks, how many more weeks must {name} save?", extra
    total = work.calc("Weeks in all", weeks, "+", extra, " weeks")
    text += f" After {weeks} weeks {name} is still short of the price."
    return text + f" How many weeks of saving does the {want} take in all?", total


CROPS = (("tomato plants", "tomatoes"), ("pepper plants", "peppers"), ("strawberry plants", "strawberries"),
         ("bean plants", "beans"))


def garden(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """Rows of plants, produce per plant, boxes, sales and profit."""
    name = rng.choice(NAMES)
    plant, fruit = rng.choice(CROPS)
    rows = rng.randint(2, 3 + level)
    per_row = rng.randint(3, 4 + 2 * level)
    per_plant = rng.randint(2, 3 + level)
    text = f"{name} plants {rows} rows of {plant} with {per_row} plants in each row."
    plants = work.calc("Number of plants", rows, "*", per_row, " plants")
    text += f" Each plant grows {per_plant} {fruit}."
    produce = work.calc(f"Number of {fruit}", plants, "*", per_plant, f" {fruit}")
    if level == 1:
        return text + f" How many {fruit} does {name} pick?", produce
    sizes = [d for d in _divisors(produce, 2, 12) if produce // d >= 3]  # rows (2-8) always divides
    box = rng.choice([d for d in sizes if d >= 3] or sizes)
    text += f" {name} packs them into boxes of {box}."
    boxes = work.calc("Number of boxes", produce, "/", box, " boxes")
    if level == 2:
        return text + " How many boxes does " + name + " fill?", boxes
    keep = rng.randint(1, max(1, boxes // 3)) if level >= 4 else 0
    if keep:
        text += f" {name} keeps {keep} boxes and sells the rest"
        boxes = work.calc("Boxes to sell", boxes, "-", keep, " boxes")
    else:
        text += f" {name} sells all the boxes"
    price = rng.randint(3, 4 + level)
    text += f" for ${price} a box."
    money = work.calc("Money from sales", boxes, "*", price, " dollars")
    if level <= 4:
        return text + f" How many dollars does {name} earn?", money
    seeds = rng.randint(5, max(6, money // 3))
    text += f" The seeds cost ${seeds}."
    profit = work.calc("Profit", money, "-", seeds, " dollars")
    return text + f" What is {name}'s profit in dollars?", profit


def tickets(rng: random.Random, level: int, work: _Work) -> tuple[str, int]:
    """A school event sells tickets: revenue, profit, and a fair split of the profit."""
    event = rng.choice(("school play", "science fair", "talent show", "bake sale raffle", "charity concert"))
    adult_price = rng.randint(4, 6 + 2 * level)
    child_price = rng.randint(2, adult_price - 1)
    adults = [rng.randint(10, 20 + 15 * level) for _ in range(2 if level >= 5 else 1)]
    children = [rng.randint(10, 20 + 15 * level) for _ in range(2 if level >= 5 else 1)]
    if level == 1:
        friday, saturday = adults[0], children[0]
        text = (f"The {event} sells {friday} tickets on Friday and {saturday} tickets on Saturday. "
                f"Each ticket costs ${adult_price}.")
        sold = work.calc("Tickets sold", friday, "+", saturday, " tickets")
        money = work.calc("Money raised", sold, "*", adult_price, " dollars")
        return text + " How many dollars does the event raise?", money
    if level >= 5:
        text = (f"Adult tickets for the {event} cost ${adult_price} and child tickets cost ${child_price}. "
                f"On Friday it sells {adults[0]} adult and {children[0]} child tickets; on Saturday "
                f"{adults[1]} adult and {children[1]} child tickets.")
        adult_count = work.calc("Adult tickets", adults[0], "+", adults[1], " tickets")
        child_count = work.calc("Child tickets", children[0], "+", children[1], " tickets")
    else:
        text = (f"The {event} sells {adults[0]} adult tickets at ${adult_price} each and "
                f"{children[0]} child tickets at ${child_price} each.")
        adult_count, child_count = adults[0], children[0]
    adult_money = work.calc("Money from adult tickets", adult_count, "*", adult_price, " dollars")
    child_money = work.calc("Money from child tickets", child_count, "*", child_price, " dollars")
    money = work.calc("Money raised", adult_money, "+", child_money, " dollars")
    if level == 2:
        return text + " How many dollars does the event raise?", money
    clubs = rng.randint(2, 5)
    profit_target = clubs * rng.randint(max(1, money // (3 * clubs)), max(1, (money - 1) // clubs))
    costs = money - profit_target
    text += f" The event costs ${costs} to run."
    profit = work.calc("Profit", money, "-", costs, " dollars")
    if level == 3:
        return text + " What is the profit in dollars?", profit
    text += f" The profit is shared equally among {clubs} clubs."
    each = work.calc("Each club gets", profit, "/", clubs, " dollars")
    return text + " How many dollars does each club get?", each


Template = Callable[[random.Random, int, _Work], tuple[str, int]]

TEMPLATES: dict[str, Template] = {
    "shopping": shopping,
    "travel": travel,
    "ages": ages,
    "sharing": sharing,
    "workshop": workshop,
    "discount": discount,
    "units": units,
    "savings": savings,
    "garden": garden,
    "tickets": tickets,
}


def make_problem(seed: int, index: int, level: int, template: str, problem_id: str) -> Problem:
    """One problem, fully determined by (seed, index, level, template)."""
    rng = random.Random(seed * 1_000_003 + index)
    work = _Work()
    question, answer = TEMPLATES[template](rng, level, work)
    solution = "\n".join(work.lines) + f"\nThe answer is {answer}."
    return Problem(
        id=problem_id,
        question=question,
        answer=str(answer),
        solution=solution,
        metadata={"level": level, "template": template, "steps": len(work.lines)},
    )


def generate(count: int | None = None, split: str = "test", seed: int | None = None,
             levels: tuple[int, ...] = LEVELS) -> list[Problem]:
    """`count` problems (default SYNTHETIC_SIZE), levels cycling, templates rotating.

    Problem i has level levels[i % len(levels)]; templates rotate so that any 10 consecutive
    problems use all ten templates and every (template, level) pair occurs within 50 problems.
    """
    if seed is None:
        seed = SPLIT_SEEDS.get(split)
        if seed is None:
            raise ValueError(f"synthetic has splits {sorted(SPLIT_SEEDS)}, not {split!r}")
    names = list(TEMPLATES)
    prefix = "synthetic" if split == "test" else f"synthetic-{split}"
    problems = []
    for index in range(SYNTHETIC_SIZE if count is None else count):
        round_, position = divmod(index, len(levels))
        template = names[(round_ + 2 * position) % len(names)]
        problems.append(make_problem(seed, index, levels[position], template, f"{prefix}-{index}"))
    return problems
