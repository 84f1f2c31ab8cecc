"""The report's figures, drawn with matplotlib and inlined as SVG markup (no files, no network).

Figures are built on `matplotlib.figure.Figure` directly, not pyplot: no global state, no GUI backend.
Each figure gets its own hash salt, so the ids inside several inline SVGs never collide and the output
is the same on every run.
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .data import Cell, Config, pareto_front

FRONT, DOMINATED, UNFINISHED = "#c0392b", "#5b7fa6", "#9aa0a6"
COSTS = (("completion_tokens_per_problem", "generated tokens per problem"),
         ("engine_seconds_per_problem", "engine-seconds per problem (wall time x the problem's share of the engine)"))
MARKER_PX = 9  # a point's half-width on screen, kept clear of labels
# label offsets from the point (points), tried in order: beside it, then stepping away above and below
OFFSETS = [(6, 4), (6, -12), (-6, 4), (-6, -12)] + [(dx, dy) for step in range(1, 7)
                                                   for dx in (6, -6) for dy in (4 + 11 * step, -12 - 11 * step)]


def to_svg(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: it goes inside HTML


def cost_plot(configs: list[Config], salt: str) -> tuple[str, list[tuple[int, str]]]:
    """The cost figure as SVG, and the names drawn as numbers where a label did not fit ([(number, name)])."""
    figure, numbered = cost_figure(configs)
    return to_svg(figure, salt), numbered


def cost_figure(configs: list[Config]) -> tuple[Figure, list[tuple[int, str]]]:
    """Accuracy against generated tokens and against engine-seconds per problem, one point per configuration
    with its 95% interval, the Pareto frontier of the finished ones joined and drawn in red, unfinished runs
    grey squares."""
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, sharey=True)
    accuracy = [c.summary.accuracy * 100 for c in configs]
    below = [(c.summary.accuracy - c.summary.ci_low) * 100 for c in configs]
    above = [(c.summary.ci_high - c.summary.accuracy) * 100 for c in configs]
    shown = []
    for ax, (attribute, title) in zip(axes, COSTS):
        cost = [getattr(c.summary, attribute) for c in configs]
        drawn = [i for i, x in enumerate(cost) if x is not None]
        candidates = [i for i in drawn if configs[i].finished]
        front = [candidates[j] for j in pareto_front([(cost[i], accuracy[i]) for i in candidates])]
        positive = [cost[i] for i in drawn if cost[i] > 0]
        if positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
            ax.set_xlim(min(positive) / 1.6, max(positive) * 2.5)
        elif positive:
            ax.set_xlim(0, max(positive) * 1.25)
        for i in drawn:
            colour = FRONT if i in front else UNFINISHED if not configs[i].finished else DOMINATED
            ax.errorbar(cost[i], accuracy[i], yerr=[[below[i]], [above[i]]], fmt="s" if not configs[i].finished else "o",
                        capsize=4, color=colour, markerfacecolor=FRONT if i in front else "white", markersize=7,
                        zorder=3)
        ax.plot([cost[i] for i in front], [accuracy[i] for i in front], "--", color=FRONT, linewidth=1.2, zorder=2,
                drawstyle="steps-post" if len(front) > 1 else "default")
        ax.set_xlabel(title, fontsize=9)
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, "not recorded for these runs", transform=ax.transAxes, ha="center", color="#59636e")
        shown.append((ax, drawn, cost))
    axes[0].set_ylabel("accuracy (%), 95% interval")
    axes[0].set_ylim(-3, 103)
    axes[1].plot([], [], "o", color=FRONT, label="on the Pareto frontier")
    axes[1].plot([], [], "o", color=DOMINATED, markerfacecolor="white", label="dominated: another is cheaper and better")
    if any(not c.finished for c in configs):
        axes[1].plot([], [], "s", color=UNFINISHED, markerfacecolor="white", label="unfinished (not on the frontier)")
    figure.legend(loc="outside upper center", ncols=3, fontsize=8, frameon=False)
    figure.draw_without_rendering()  # fix the layout, so labels are measured where they will be drawn
    figure.set_layout_engine("none")
    numbered: dict[int, str] = {}
    for ax, drawn, cost in shown:
        label_points(ax, figure, [(i, cost[i], accuracy[i]) for i in drawn], configs, numbered)
    return figure, sorted(numbered.items())


def label_points(ax, figure: Figure, points: list[tuple[int, float, float]], configs: list[Config],
                 numbered: dict[int, str]) -> None:
    """Name each point where its label fits inside the axes without covering another label or point; where
    no place fits (many configurations at one accuracy), the point gets its number and the name goes in the
    key under the figure."""
    renderer = figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    centres = [ax.transData.transform((x, y)) for _, x, y in points]
    markers = [Bbox.from_extents(cx - MARKER_PX, cy - MARKER_PX, cx + MARKER_PX, cy + MARKER_PX) for cx, cy in centres]
    placed: list[Bbox] = []
    for (index, x, y), centre in sorted(zip(points, centres), key=lambda item: (item[0][2], item[0][1])):
        for text in (configs[index].name, str(index + 1)):
            label = fitting_label(ax, renderer, frame, (x, y), text, placed, markers, centre)
            if label is not None:
                if text != configs[index].name:
                    numbered[index + 1] = configs[index].name
                break
        else:  # not even the number fits: it goes beside the point regardless, and in the key
            label = ax.annotate(str(index + 1), (x, y), xytext=OFFSETS[0], textcoords="offset points", fontsize=8)
            numbered[index + 1] = configs[index].name
        placed.append(text_box(label, renderer))
        label.set_in_layout(False)


def text_box(label, renderer) -> Bbox:
    """Where a label's words are on screen (an annotation's own extent includes its leader line)."""
    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)


def fitting_label(ax, renderer, frame: Bbox, xy, text: str, placed: list[Bbox], markers: list[Bbox], own):
    for number, (dx, dy) in enumerate(OFFSETS):
        leader = {"arrowstyle": "-", "color": "#9aa0a6", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 4} \
            if number >= 4 else None  # a label lifted away from its point gets a thin line back to it
        label = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", fontsize=8,
                            ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top" if number >= 4
                            else "baseline", clip_on=False, arrowprops=leader)
        box = text_box(label, renderer)
        inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        clear = not any(box.overlaps(other) for other in placed) and \
            not any(box.overlaps(m) for m in markers if not m.contains(*own))
        if inside and clear:
            return label
        label.remove()
    return None


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
    if len(configs) > 1:  # as many columns as fit the figure's width: a legend wider than it is cut at both edges
        longest = max(len(c.name) for c in configs) + 5
        columns = max(1, min(5, len(configs), int(width * 72 / (7 * 0.6 * longest))))
        figure.legend(fontsize=7, ncols=columns, loc="outside upper center", frameon=False)
    return to_svg(figure, salt)
