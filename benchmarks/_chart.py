"""The chart of the page (docs/benchmarks.png): bars of medians with min-max whiskers, one panel per section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from _report import nbytes, num

BLUE, ORANGE, GREY, RED, GREEN = "#4c72b0", "#dd8452", "#8c8c8c", "#c44e52", "#55a868"


def note(ax: Any, text: str, x: float, y: float) -> None:
    ax.annotate(text, (x, y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)


def bars(ax: Any, title: str, xlabel: str, stats: dict[str, Any], color: Any, scale: str = "log", **bar: Any) -> None:
    """Horizontal bars of ``{label: summary}``: medians and min-max whiskers, each labelled with its median;
    ``bar["left"]`` stacks them on other bars, whose lengths the medians include."""
    medians, left = [s["median"] for s in stats.values()], bar.pop("left", [0] * len(stats))
    whiskers = [
        [max(s["median"] - s["min"], 0) for s in stats.values()],
        [max(s["max"] - s["median"], 0) for s in stats.values()],
    ]
    widths = [median - base for median, base in zip(medians, left, strict=True)]
    ax.barh(
        range(len(stats)), widths, left=left, xerr=whiskers, color=color, ecolor="#444444", capsize=3, height=0.6, **bar
    )
    for position, s in enumerate(stats.values()):
        note(ax, num(s["median"]), s["max"], position)
    ax.set_yticks(range(len(stats)), list(stats), fontsize=9)
    ax.invert_yaxis()
    top = max(s["max"] for s in stats.values())
    ax.set(xscale=scale, xlim=(min(medians) / 3, top * 12) if scale == "log" else (0, top * 1.25), xlabel=xlabel)
    ax.set_title(title, fontsize=12)


SHORT = {
    "prefetch": "sts, prefetch",
    "no_prefetch": "sts, disable_prefetch",
    "sequential": "boto3, one after another",
    "prefetch_early": "sts() first + S3 client, prefetch",
    "no_prefetch_early": "sts() first + S3 client, no prefetch",
}


def chart(r: dict[str, Any], path: Path) -> None:
    fig = plt.figure(figsize=(14, 27))
    grid = fig.add_gridspec(6, 2, height_ratios=[1.1, 0.8, 1.2, 0.9, 1.0, 1.0], hspace=0.45, wspace=0.55, top=0.93)
    quick = " (quick mode: few rounds)" if r["mode"] == "quick" else ""
    fig.suptitle(f"powertools-sts benchmarks{quick}\nbars: median; whiskers: min-max over rounds", fontsize=14)
    panel = iter(
        [grid[0, :], grid[1, 0], grid[1, 1], grid[2, :], grid[3, 0], grid[3, 1], grid[4, :], grid[5, 0], grid[5, 1]]
    )

    warm, ax = r["warm"], fig.add_subplot(next(panel))
    names = [name for name in warm["labels"] if name != "bare"]
    colors = [GREY if n == "noop" else BLUE if n.startswith("sts_") else ORANGE for n in names]
    overheads = {warm["labels"][n]: warm["overhead_us"][n] for n in names}
    bars(ax, "1. Warm overhead per invocation over the bare handler (log scale)", "microseconds", overheads, colors)
    noop = warm["overhead_us"]["noop"]["median"]
    ax.axvline(2 * noop, color=RED, linestyle="--", linewidth=1.2, label="target, 1 entry: 2x the no-op's")
    ax.axvline(3 * noop, color=RED, linestyle=":", linewidth=1.2, label="target, 10 entries: 3x the no-op's")
    ax.legend(fontsize=9, loc="upper right")

    clients, inline = r["clients"]["per_call_us"], r["inline_config"]["per_call_us"]
    ways = {
        "get_client(name, 's3')\nwarm": clients["get_client"],
        "session.client('s3')\nreused session": clients["session_client"],
        "boto3.Session(**creds)\n.client('s3')": clients["new_session_client"],
        "get_client(name, 's3',\nconfig=Config(...)) inline": inline["inline_config"],
        "Config(...) alone": inline["config_alone"],
    }
    bars(fig.add_subplot(next(panel)), "2. Getting an S3 client (log scale)", "microseconds per call", ways, GREEN)
    cold, wall = r["coldstart"], r["coldstart"]["wall_ms"]
    fresh = {
        "python -c pass": wall["python"],
        "import boto3, Powertools\nmiddleware_factory": wall["boto3_middleware_factory"],
        "from powertools_sts import\nget_credentials, sts": wall["powertools_sts"],
    }
    title = (
        f"3. Cold start, fresh process (ms)\nthe package's own import adds {cold['import_adds_ms']['median']:.1f} ms"
    )
    bars(fig.add_subplot(next(panel)), title, "milliseconds, wall time", fresh, "#8172b2", scale="linear")

    p, ax = r["prefetch"], fig.add_subplot(next(panel))
    modes = [(n, mode) for n in (1, 10) for mode in p["modes"]] + [(p["extra_size"], mode) for mode in p["extra_modes"]]
    labels = {f"{mode}_{n}": f"{n} entr{'y' if n == 1 else 'ies'}: {SHORT[mode]}" for n, mode in modes}
    colors = [BLUE if n == 1 else ORANGE for n, _ in modes]
    imports = [p["import_ms"][name]["median"] for name in labels]
    ax.barh(range(len(labels)), imports, color=colors, alpha=0.4, height=0.6, label="import of the handler module")
    totals = {label: p["total_ms"][name] for name, label in labels.items()}
    title = f"4. Cold start to the end of the first invocation, {p['delay_ms']:.0f} ms of STS latency (fresh processes)"
    xlabel = "milliseconds from the start of the import to the end of the first invocation (whiskers: the total's)"
    bars(ax, title, xlabel, totals, colors, scale="linear", left=imports, label="first invocation")
    ax.legend(fontsize=9, loc="lower right")

    day, spread, ax = r["sts_calls"]["day"], r["sts_calls"]["containers"], fig.add_subplot(next(panel))
    counts = day["calls_per_entry_raw"]
    ax.bar(range(len(counts)), counts, color="#64b5cd")
    ax.axhspan(24, 28, color=GREEN, alpha=0.2, label="target: about 24-28")
    ax.set(ylim=(0, max(34, max(counts) + 6)), xlabel="entry", ylabel="AssumeRole calls", xticks=range(len(counts)))
    ax.set_title(f"5. AssumeRole calls per entry, 24 h\n{day['invocations']:,} invocations, fake clock", fontsize=12)
    ax.legend(fontsize=9, loc="upper right")
    ax = fig.add_subplot(next(panel))
    ax.hist(spread["raw_refresh_after_s"], bins=30, color=RED, alpha=0.85)
    ax.set(xlabel="refresh time, seconds after the common first fetch", ylabel="containers")
    title = f"5. Refreshes of {spread['containers']:,} containers started together\nspread {spread['spread_s']:.0f} s"
    ax.set_title(title + " (target: >= 60 s)", fontsize=12)

    _memory(fig.add_subplot(next(panel)), r["memory"])
    pc, hand = r["models"]["provisioned"], r["models"]["handwritten"]
    first = {
        "provisioned, first invocation\nafter a freeze: the package": pc["latency_ms"]["package"],
        "provisioned, first invocation\nafter a freeze: prefetch_timeout=0": pc["latency_ms"]["today"],
        "cold start, import + first:\nsts module": hand["total_ms"]["cold_sts"],
        "cold start, import + first:\nhand-written boto3": hand["total_ms"]["cold_boto3"],
    }
    bars(
        fig.add_subplot(next(panel)), "7. First invocations (ms, log scale)", "milliseconds", first, [BLUE, ORANGE] * 2
    )
    _refresh(fig.add_subplot(next(panel)), r["models"]["refresh"])
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _memory(ax: Any, memory: dict[str, Any]) -> None:
    """Growth per pattern in KiB (projected when stopped early), symlog, against the 1 MiB target."""
    runs = [memory["patterns"][name] for name in memory["labels"]]
    kib, limit = [max(run["growth_bytes"], run["projected_bytes"]) / 1024 for run in runs], memory["limit_bytes"] / 1024
    # A negative growth (the run freed some of the warm-up's memory) is drawn as 0; its label keeps the figure.
    ax.barh(range(len(runs)), [max(v, 0.0) for v in kib], color=[RED if v >= limit else BLUE for v in kib], height=0.6)
    ax.axvline(limit, color=RED, linestyle="--", linewidth=1.2, label="target: < 1 MiB")
    for position, (run, value) in enumerate(zip(runs, kib, strict=True)):
        done = f"{run['invocations']:,}" + (f" of {run['planned']:,}, projected" if run["capped"] else "")
        note(ax, f"{nbytes(value * 1024)} ({done})", max(value, 0.0), position)
    ax.set_yticks(range(len(runs)), list(memory["labels"]), fontsize=9)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=1.0)  # growth of a few KiB and leaks of MiB on one axis, and 0
    ax.set(xlim=(0.0, max(limit, *kib) * 8), xlabel="KiB kept after the warm-up (symlog scale)")
    ax.set_title(f"6. Memory growth over {memory['invocations']:,} invocations per pattern (tracemalloc)", fontsize=12)
    ax.legend(fontsize=9, loc="lower right")


def _refresh(ax: Any, refresh: dict[str, Any]) -> None:
    """Every measured invocation's latency over the window, both sides, against the target line."""
    if "skipped" in refresh:
        ax.text(0.5, 0.5, f"not measured in this run:\n{refresh['skipped']}", ha="center", va="center", wrap=True)
        ax.set_axis_off()
        return
    for variant, color in (("today", ORANGE), ("package", BLUE)):  # the package's points drawn over today's
        points = refresh["runs"][variant]["points"]
        label = "the package" if variant == "package" else "today"
        ax.scatter([t for t, _ in points], [ms for _, ms in points], s=6, color=color, alpha=0.7, label=label)
    ax.axhline(
        1.1 * refresh["runs"]["package"]["median_ms"], color=RED, linestyle="--", label="target: 1.1x the median"
    )
    ax.set(yscale="log", xlabel="seconds into the measured window", ylabel="event to response, ms")
    title = f"7. Managed Instances, {refresh['workers']} workers: every invocation across a refresh\ncredentials fresh "
    ax.set_title(title + f"for {refresh['fresh_s']:g} s, {refresh['work_ms']:g} ms of handler work", fontsize=12)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], fontsize=9, loc="upper left")
