"""The report's figures, drawn with matplotlib and inlined as SVG markup (no files, no network).

Figures are built on `matplotlib.figure.Figure` directly, not pyplot: no global state, no GUI backend.
Each figure gets its own hash salt, so the ids inside several inline SVGs never collide and the output
is the same on every run.
"""

from __future__ import annotations

import io
import math

import matplotlib
from matplotlib.figure import Figure

from .data import Cell, Config, pareto_front

FRONT, DOMINATED = "#c0392b", "#5b7fa6"
COSTS = (("tokens_per_problem", "mean tokens per problem (prompt + completion)"),
         ("seconds_per_problem", "mean seconds per problem"))


def to_svg(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: it goes inside HTML


def cost_plot(configs: list[Config], salt: str) -> str:
    """Accuracy against tokens and against seconds per problem, one point per configuration with its
    95% interval, the Pareto frontier joined and drawn in red."""
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    accuracy = [c.summary.accuracy * 100 for c in configs]
    below = [(c.summary.accuracy - c.summary.ci_low) * 100 for c in configs]
    above = [(c.summary.ci_high - c.summary.accuracy) * 100 for c in configs]
    for ax, (attribute, title) in zip(axes, COSTS):
        cost = [getattr(c.summary, attribute) for c in configs]
        front = pareto_front(list(zip(cost, accuracy)))
        positive = [x for x in cost if x > 0]
        logarithmic = bool(positive) and max(positive) / min(positive) > 20
        if logarithmic:
            ax.set_xscale("log")
        elif positive:
            ax.set_xlim(0, max(positive) * 1.25)
        scaled = [math.log10(x) if logarithmic and x > 0 else x for x in cost]
        low, high = ax.get_xlim()
        if logarithmic:
            low, high = math.log10(low), math.log10(high)
        placement = place_labels([x - low for x in scaled], [y + 3 for y in accuracy], [c.name for c in configs],
                                 (high - low) or 1.0, 106, (4.6, 3.3))
        for i, config in enumerate(configs):
            on_front = i in front
            ax.errorbar(cost[i], accuracy[i], yerr=[[below[i]], [above[i]]], fmt="o", capsize=4,
                        color=FRONT if on_front else DOMINATED, markerfacecolor=FRONT if on_front else "white",
                        markersize=7, zorder=3)
            lifts, flipped = placement[i]
            label = ax.annotate(config.name, (cost[i], accuracy[i]), xytext=(-6 if flipped else 6, 5 + 11 * lifts),
                                textcoords="offset points", fontsize=8, ha="right" if flipped else "left")
            label.set_in_layout(False)  # a long name may run past the axes; it must not shrink them
        ax.plot([cost[i] for i in front], [accuracy[i] for i in front], "--", color=FRONT, linewidth=1.2, zorder=2,
                drawstyle="steps-post" if len(front) > 1 else "default")
        ax.set_xlabel(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%), 95% interval")
    axes[0].set_ylim(-3, 103)
    axes[1].plot([], [], "o", color=FRONT, label="on the Pareto frontier")
    axes[1].plot([], [], "o", color=DOMINATED, markerfacecolor="white", label="dominated: another is cheaper and better")
    figure.legend(loc="outside upper center", ncols=2, fontsize=8, frameon=False)
    return to_svg(figure, salt)


def place_labels(xs: list[float], ys: list[float], names: list[str], xspan: float, yspan: float,
                 axes_inches: tuple[float, float]) -> list[tuple[int, bool]]:
    """For each point's label: how many lines to lift it and whether to put it left of the point, so
    that labels neither overprint nor run off the axes (a greedy placement in axes fractions, label
    sizes estimated from 8-point text)."""
    line = 11 / 72 / axes_inches[1]
    gap = 6 / 72 / axes_inches[0]
    boxes: list[tuple[float, float, float, float]] = []
    placed = [(0, False)] * len(xs)
    for i in sorted(range(len(xs)), key=lambda k: (xs[k], ys[k])):
        width = len(names[i]) * 8 * 0.55 / 72 / axes_inches[0]
        left = xs[i] / xspan + gap
        flipped = left + width > 1.0 and xs[i] / xspan - gap - width > 0
        if flipped:
            left = xs[i] / xspan - gap - width
        bottom, lifts = ys[i] / yspan + 5 / 72 / axes_inches[1], 0
        while any(left < b[2] and b[0] < left + width and bottom < b[3] and b[1] < bottom + line for b in boxes):
            bottom += line
            lifts += 1
        boxes.append((left, bottom, left + width, bottom + line))
        placed[i] = (lifts, flipped)
    return placed


def breakdown_plot(configs: list[Config], key: str, groups: list, table: dict[str, dict[object, Cell]],
                   salt: str) -> str:
    """Accuracy per group (level, subject...) per configuration, bars with 95% intervals."""
    width = max(6.0, min(14.0, 1.0 + 0.45 * len(groups) * max(1, len(configs)) ** 0.6 + 0.4 * len(groups)))
    figure = Figure(figsize=(width, 3.6), layout="constrained")
    ax = figure.subplots()
    bar = 0.8 / max(1, len(configs))
    for index, config in enumerate(configs):
        xs, heights, errors_low, errors_high = [], [], [], []
        for position, group in enumerate(groups):
            cell = table[config.key].get(group)
            if cell is None or not cell.total:
                continue
            low, high = cell.interval
            xs.append(position - 0.4 + bar * (index + 0.5))
            heights.append(cell.accuracy * 100)
            errors_low.append((cell.accuracy - low) * 100)
            errors_high.append((high - cell.accuracy) * 100)
        ax.bar(xs, heights, bar * 0.92, yerr=[errors_low, errors_high], capsize=2, label=config.name,
               color=f"C{index % 10}", error_kw={"elinewidth": 0.8, "alpha": 0.7})
    crowded = sum(len(str(g)) for g in groups) > 60  # long subject names: slant them
    ax.set_xticks(range(len(groups)), [str(g) for g in groups], fontsize=8, rotation=30 if crowded else 0,
                  ha="right" if crowded else "center")
    ax.set_xlabel(key)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    if len(configs) > 1:
        figure.legend(fontsize=7, ncols=min(5, len(configs)), loc="outside upper center", frameon=False)
    return to_svg(figure, salt)
