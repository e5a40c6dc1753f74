"""The targets, the page (docs/benchmarks.md) and the console summary of a run's results.

``table(header, rows)`` renders a markdown table. Each section of the page is a function of the results returning
its blocks (tables, a short method note), listed in ``SECTIONS``; each target is one ``yield`` of ``_targets``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

Results = dict[str, Any]


def num(value: float) -> str:
    """Three significant digits, thousands separated."""
    size = abs(value)
    if isinstance(value, int) or size >= 100 or value == 0:
        return f"{value:,.0f}"
    return f"{value:.{1 if size >= 10 else 2 if size >= 1 else 3}f}"


def mmm(stat: dict[str, Any], suffix: str = "") -> str:
    """``median [min-max]``."""
    return f"{num(stat['median'])} [{num(stat['min'])}-{num(stat['max'])}]{suffix}"


def count(stat: dict[str, Any]) -> str:
    """A count's ``median [min-max]``, or the one value when every run gave it."""
    return f"{stat['median']:g}" + ("" if stat["min"] == stat["max"] else f" [{stat['min']:g}-{stat['max']:g}]")


def nbytes(value: float) -> str:
    """Bytes in B, KiB or MiB ("0 B", not "-0 B", under half a byte)."""
    if abs(value) >= 1024**2:
        return f"{value / 1024**2:,.2f} MiB"
    if abs(value) >= 1024:
        return f"{value / 1024:,.1f} KiB"
    return "0 B" if abs(value) < 0.5 else f"{value:,.0f} B"


def plural(n: float, word: str) -> str:
    return f"{n:,g} {word}{'' if n == 1 else 's'}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of ``header`` and ``rows``."""
    return "\n".join("| " + " | ".join(line) + " |" for line in [header, ["---"] * len(header), *rows])


def rows(labels: dict[str, str], *columns: Callable[[str], str]) -> list[list[str]]:
    """One row per variant: its label, then each column's cell for it."""
    return [[label, *(column(name) for column in columns)] for name, label in labels.items()]


def col(of: dict[str, Any], show: Callable[[Any], str] = mmm) -> Callable[[str], str]:
    """A column of ``show(of[variant])``, "-" for a variant without a figure."""
    return lambda name: show(of[name]) if name in of else "-"


# -- targets -----------------------------------------------------------------------------------------------


def margin(value: float, limit: float, op: str) -> str:
    """How far a figure is from its limit: under an upper one (``<=``, ``<``), over a lower one (``>=``)."""
    if op in ("==", "in"):
        return "met" if OPS[op](value, limit) else "missed"
    if op != ">=" and value <= 0:
        return "far below the limit"
    room, pct = value / limit if op == ">=" else limit / value, abs(value / limit - 1) * 100
    if room >= 1.5:
        return f"{room:,.1f}x the minimum" if op == ">=" else f"{room:.1f}x below the limit"
    if op == ">=":
        return f"{pct:.0f}% {'above' if room >= 1 else 'short of'} the minimum"
    return f"{pct:.0f}% {'below' if room >= 1 else 'over'} the limit"


OPS: dict[str, Callable[[Any, Any], bool]] = {"==": operator.eq, "<=": operator.le, "<": operator.lt, ">=": operator.ge}
OPS["in"] = lambda value, limit: limit[0] <= value[0] and value[1] <= limit[1]  # a measured range within limits
# What a miss of a section's target means: under it in the console, under the targets table on the page.
WHY = {
    1: "sub-microsecond overheads on a shared machine; a regression shows in every round: profile it with py-spy",
    2: "a lookup of about 1 us against a client build of milliseconds; inline, an equal Config must find its client",
    3: "fresh interpreters, the import attributed by -X importtime; aws_xray_sdk loaded is a regression in any mode",
    4: "timed by phase: the first client is CPU work the GIL does not overlap, a prefetch hides only the network wait",
    5: "counted on a fake clock: a change in the refresh rules (the spread samples fewer containers in quick mode)",
    6: "counted, not timed: the table's sites say what is kept (quick mode's fewer invocations show a leak smaller)",
    7: "under the real runtime client; the tables split the calls in flight, the phases and the collector's share",
    8: "counted on a fake clock: a change in the refresh rules that the model (benchmarks/_fleet.py) does not follow",
}
# Targets counted, not timed (their ids start so).
COUNTED = ("xray", "sts_calls", "memory_", "pc_", "mi_calls", "fleet")


def _targets(r: Results) -> Iterator[tuple[Any, ...]]:
    """(section, id, target, measured, op, limit, unit); the figures behind each are in its section's tables."""
    warm, speedup = r["warm"]["ratio_to_noop"], r["clients"]["speedup_of_get_client"]["session_client"]["median"]
    for id_, name, what, limit in (
        ("warm_1", "sts_1", "1 fresh entry", 2),
        ("warm_10", "sts_10", "10 fresh entries", 3),
        ("warm_metrics", "sts_1_metrics", "1 fresh entry and metrics= set", 2),
        ("warm_otel", "sts_1_otel", "1 fresh entry and OpenTelemetry capture on", 2),
        ("warm_linked", "sts_1_shared_name", "1 fresh entry beside another layer with its name", 2),
        ("warm_tenant", "sts_tenant", "1 fresh per-tenant entry (the context's tenant_id, cached)", 2),
    ):
        if name not in warm:
            continue  # results recorded before the variant existed (--from-results)
        text = f"warm overhead with {what} <= {limit}x the no-op middleware's"
        yield 1, id_, text, warm[name]["median"], "<=", limit, "x"
    yield 2, "get_client", "get_client warm >= 1,000x faster than session.client('s3')", speedup, ">=", 1000, "x"
    inline = r["inline_config"]
    share = inline["share_over_get_client"]["median"] if inline["clients_built"] == 1 else float("inf")
    text = "get_client with a Config written inline: 1 client built, <= 1.5x the call with a Config built once"
    yield 2, "get_client_inline_config", text, share, "<=", 1.5, "x"
    cold, prefetch = r["coldstart"], r["prefetch"]["ratios"]
    text = "from powertools_sts import get_credentials, sts adds <= 10 ms to boto3 + the middleware factory"
    yield 3, "import", text, cold["import_adds_ms"]["median"], "<=", 10, " ms"
    loaded = sum(cold["xray"][k] for k in ("after_import", "after_applying_sts", "after_first_invocation"))
    yield 3, "xray", "aws_xray_sdk not imported unless capture is asked for: steps loading it = 0", loaded, "==", 0, ""
    text = "prefetch: first-invocation latency of 10 entries <= 1.5x that of 1 entry"
    yield 4, "prefetch_10_vs_1", text, prefetch["prefetch_10_over_1"]["median"], "<=", 1.5, "x"
    ratio = prefetch["prefetch_10_over_no_prefetch_10"]["median"]
    yield 4, "prefetch_vs_none", "prefetch of 10 entries: lower than without prefetch", ratio, "<", 1, "x"
    calls, spread = r["sts_calls"]["day"]["calls_per_entry"], r["sts_calls"]["containers"]["spread_s"]
    text = "AssumeRole calls per entry over 24 h at 10/s with 1-hour credentials (min-max): about 24-28"
    yield 5, "sts_calls", text, (calls["min"], calls["max"]), "in", (24, 28), ""
    yield 5, "spread", "refreshes of 1,000 containers started together spread over >= 60 s", spread, ">=", 60, " s"
    memory = r["memory"]
    for name, label in memory["labels"].items():
        run = memory["patterns"][name]
        text = f"memory growth over {memory['invocations']:,} invocations of {label}: < 1 MiB"
        yield 6, f"memory_{name}", text, max(run["growth_bytes"], run["projected_bytes"]), "<", 1024**2, " B"
    tenants = r.get("tenant_memory", {"skipped": "not measured in this run"})
    if "skipped" not in tenants:
        limit, most = tenants["limit_bytes"], tenants["max_tenants"]
        text = (
            f"RSS growth over {tenants['measured_tenants']:,} more tenants in turn through max_tenants={most}, each "
            f"calling get_client, after the first {tenants['warmup_tenants']:,}: < {limit / 1024**2:g} MiB"
        )
        yield 6, "memory_tenants_rss", text, tenants["growth_bytes"], "<", limit, " B"
        text = f"tenants resident after {tenants['tenants_done']:,} through max_tenants={most} = {most}"
        yield 6, "memory_tenants_resident", text, tenants["tenants_resident_at_end"], "==", most, ""
    pc, mi, refresh, cold = (r["models"][k] for k in ("provisioned", "workers", "refresh", "handwritten"))
    text = "provisioned concurrency, the first invocation after a freeze: AssumeRole calls in flight (the most) = 0"
    yield 7, "pc_first_invocation", text, pc["calls_during"]["package"]["max"], "==", 0, ""
    text = f"Managed Instances, {mi['workers']} workers: AssumeRole calls per role at INIT (min-max) = 1"
    yield 7, "mi_calls_per_role", text, (mi["min_per_role"]["package"], mi["max_per_role"]["package"]), "in", (1, 1), ""
    if "skipped" not in refresh:
        text = f"Managed Instances, {refresh['workers']} workers across a refresh: slowest invocation <= 1.1x median"
        yield 7, "mi_refresh_slowest", text, refresh["runs"]["package"]["max_over_median"], "<=", 1.1, "x"
    text = "cold start of a one-entry sts handler module <= 1.0x the same function written by hand with boto3"
    yield 7, "cold_vs_handwritten", text, cold["ratio"]["median"], "<=", 1, "x"
    if "fleet" in r:  # results recorded before section 8 have none
        fleet = r["fleet"]
        worst = max(abs(run["deviation"]) for run in fleet["runs"]) * 100
        text = f"fleet model: simulated STS calls/s within {fleet['tolerance']:.0%} of the model's, every run (worst)"
        yield 8, "fleet_model", text, worst, "<=", fleet["tolerance"] * 100, "%"


def evaluate(results: Results) -> list[dict[str, Any]]:
    """Every target of the results, measured against its limit."""
    targets = []
    for section, id_, text, value, op, limit, unit in _targets(results):
        figure = f"{value[0]:g}-{value[1]:g}" if op == "in" else nbytes(value) if unit == " B" else num(value) + unit
        kind = "count" if id_.startswith(COUNTED) else "timing"
        target = {"id": id_, "target": text, "figure": figure, "value": value, "limit": limit, "kind": kind}
        why = f"{WHY[section]} (section {section})"
        targets.append({**target, "pass": OPS[op](value, limit), "headroom": margin(value, limit, op), "why": why})
    return targets


# -- the page ----------------------------------------------------------------------------------------------


def _machine(r: Results) -> list[str]:
    m, load = r["machine"], [" / ".join(f"{v:.1f}" for v in r[f"load_average_at_{end}"]) for end in ("start", "end")]
    facts = {
        "CPU": m["cpu_model"],
        "Cores": str(m["cores"]),
        "Python": f"{m['implementation']} {m['python']} ({m['platform']})",
        "Packages": ", ".join(f"{name} {version}" for name, version in m["packages"].items()),
        "Commit": m["commit"],
        "Run": f"{r['started']}, {r['mode']} mode, {r.get('duration_s', 0):.0f} s",
        "Load average (1, 5, 15 min)": f"{load[0]} at the start, {load[1]} at the end, on {m['cores']} cores",
    }
    return [table(["", ""], [list(fact) for fact in facts.items()]), "![Benchmark chart](benchmarks.png)"]


def _warm(r: Results) -> list[str]:
    w = r["warm"]
    header = ["Handler", "us per invocation", "overhead over bare, us", "x the no-op's", "STS calls while timed"]
    cells = [col(w[k]) for k in ("per_call_us", "overhead_us", "ratio_to_noop")]
    cells += [col(w["sts_calls_during_timing"], str)]
    return [
        table(header, rows(w["labels"], *cells)),
        f"Each sts handler runs in a process of its own beside the bare handler and the no-op middleware, as a "
        f"Lambda function's one handler does (processes: {w.get('processes', 'one')}); the bare and no-op rows pool "
        f"every process. {w['rounds']} rounds per process; in each, every handler in turn (the order rotating) runs "
        f"the best of 3 batches of {w['calls_per_round']:,} invocations ({w['sts_calls_per_round']} for the one "
        "calling STS), the garbage collector off. Overheads (less the bare handler's time) and ratios are taken "
        "within a round. The shared-name handler has another layer with its entry's name beside it. The "
        "sts layers sign through a counting proxy (the last column); the BaseProvider row is a trivial subclass "
        "whose `get` hits its cache; the last row calls moto, its own process, at every invocation.",
    ]


CLIENTS = {
    "get_client": "`get_client(name, 's3')`, warm",
    "session_client": "`session.client('s3')` on a reused session",
    "new_session_client": "`boto3.Session(**creds.as_boto3_kwargs()).client('s3')`",
}


def _clients(r: Results) -> list[str]:
    c, i = r["clients"], r["inline_config"]
    speed = col(c["speedup_of_get_client"], lambda stat: mmm(stat, "x"))
    inline = rows(i["labels"], col(i["per_call_us"]), col(i["calls_done"], lambda stat: num(stat["median"])))
    inline += [["the package's share: the inline call less `Config(...)` alone", mmm(i["package_share_us"]), ""]]
    inline += [["the package's share / the shared-Config call", mmm(i["share_over_get_client"], "x"), ""]]
    header = ["Way to get an S3 client", "us per call", "get_client is faster by"]
    return [
        table(header, rows(CLIENTS, col(c["per_call_us"]), speed)),
        f"{c['rounds']} rounds, the three interleaved inside an sts-decorated handler; per round "
        "{get_client:,} `get_client` calls, {session_client} clients on the reused session and {new_session_client} "
        "new sessions with a client.".format(**c["calls_per_round"])
        + f" `get_client` returns the same client object every time: {c['get_client_returns_same_object']}.",
        "### With a `Config` written inline",
        table(["Call", "us per call", "calls timed per round (median)"], inline),
        f"{i['rounds']} rounds, the four interleaved, up to {i['calls_per_round']:,} calls of each per round in "
        f"batches doubling until {i['budget_s']:g} s is spent. The Config is built in the timed loop, as a handler "
        "writing it inline does, and timed alone beside it: the package's share is the difference, per round. "
        f"Clients built: **{i['clients_built']:,}** from {i['calls_counted']:,} inline calls after the rounds.",
    ]


COLD = {
    "python": "`python -c pass` (the interpreter alone)",
    "boto3_middleware_factory": "`python -c 'import boto3, aws_lambda_powertools.middleware_factory'`",
    "powertools_sts": "`python -c 'from powertools_sts import get_credentials, sts'`",
    "wall_difference_ms": "difference of the last two, per round",
    "import_adds_ms": "**the package's import after boto3 and the factory, timed in the process**",
    "import_adds_cpu_ms": "the same, CPU time of the process (`time.process_time`)",
    "first_sts_client_ms": "the first boto3 client of the process (`client('sts')`)",
    "first_sts_client_cpu_ms": "the same, CPU time",
}


def _cold(r: Results) -> list[str]:
    c = r["coldstart"]
    own, pulled = ([m for m in c["importtime"] if m["own"] == mine] for mine in (True, False))
    top = sorted(own + pulled[:8], key=lambda m: -m["self_us"])
    ms = [[num(m["self_us"] / 1000), num(m["cumulative_us"] / 1000)] for m in top]
    modules = [[f"`{m['module']}`", "package" if m["own"] else "pulled in", *t] for m, t in zip(top, ms, strict=True)]
    return [
        table(["Fresh process", "wall ms"], rows(COLD, col({**c, **c["wall_ms"]}))),
        f"{c['rounds']} rounds of fresh interpreters, the commands interleaved, all from one bytecode cache warmed "
        "first (`PYTHONPYCACHEPREFIX`: the package is an editable install, and these machines set "
        "`PYTHONDONTWRITEBYTECODE`). Wall times include the interpreter's start and exit; the target is judged on the "
        f"figure timed in the process (bold). `python -X importtime` of the same import (median of "
        f"{c['importtime_runs']} runs, total {num(c['importtime_total_us']['median'] / 1000)} ms): the package's "
        f"{len(own)} modules take {sum(m['self_us'] for m in own) / 1000:.1f} ms of self time, what they pull in "
        f"{sum(m['self_us'] for m in pulled) / 1000:.1f} ms, chiefly Powertools' `utilities.parameters`.",
        table(["Module", "", "self ms", "cumulative ms"], modules),
        table(["`aws_xray_sdk` in `sys.modules`", "loaded"], [[f"`{k}`", str(v)] for k, v in c["xray"].items()]),
    ]


RATIOS = {
    "prefetch_10_over_1": "prefetch, 10 entries / 1 entry",
    "prefetch_10_over_no_prefetch_10": "prefetch / no prefetch, 10 entries",
    "prefetch_1_over_no_prefetch_1": "prefetch / no prefetch, 1 entry",
    "prefetch_10_over_sequential_10": "prefetch / one after another, 10 entries",
    "invocation_prefetch_10_over_1": "first invocation alone, prefetch 10 entries / 1 entry",
    "early_prefetch_10_over_no_prefetch_10": "sts(...) first, S3 client after: prefetch / no prefetch, 10 entries",
}


def _prefetch(r: Results) -> list[str]:
    p = r["prefetch"]
    header = ["Handler module", "import ms", "first invocation ms", "import + first ms", "AssumeRole calls"]
    modes = [(n, mode, label) for n in (1, 10) for mode, label in p["modes"].items()]
    modes += [(p["extra_size"], mode, label) for mode, label in p["extra_modes"].items()]
    labels = {f"{mode}_{n}": f"{plural(n, 'entry').replace('entrys', 'entries')}: {label}" for n, mode, label in modes}
    cells = [col(p[k]) for k in ("import_ms", "invocation_ms", "total_ms")]
    calls = col(p["assume_role_calls_per_run"], lambda stat: num(stat["median"]))
    return [
        table(header, rows(labels, *cells, calls)),
        table(["Ratio, per round", ""], rows(RATIOS, col(p["ratios"]))),
        f"Each run is a fresh interpreter importing a generated handler module and invoking it once; "
        f"{plural(p['rounds'], 'round')}, the {len(p['raw'])} modules interleaved. STS is moto behind a proxy "
        f"(`benchmarks/_loopback.py`) answering {p['delay_ms']:.0f} ms after each request arrived, so that "
        "concurrent requests take as long as one. The baseline builds a boto3 client at import and calls `assume_role` "
        "per entry in turn; the `sts(...) first` modules build an S3 client at import, work a prefetch can overlap. "
        "The first boto3 client (section 3) is CPU work the GIL does not overlap: a prefetch hides the network wait.",
    ]


def _sts_calls(r: Results) -> list[str]:
    day, spread = r["sts_calls"]["day"], r["sts_calls"]["containers"]
    facts = {
        "invocations (fake clock)": f"{day['invocations']:,} ({day['rate_per_second']:g}/s for 24 h)",
        "entries": f"{day['entries']} (DurationSeconds {day['credential_seconds']})",
        "AssumeRole calls per entry": mmm(day["calls_per_entry"]),
        "AssumeRole calls per invocation": f"{day['calls_per_invocation']:.6f}",
        "least lifetime left on credentials handed out, s": f"{day['min_seconds_left_when_handed_out']:.0f} (floor 60)",
        "simulation wall time": f"{day['simulation_wall_s']:.1f} s",
        "**containers started together** (a fresh STSProvider each, one fetch)": f"{spread['containers']:,}",
        "their refresh after the fetch, s": mmm(spread["refresh_after_s"]),
        "spread (latest - earliest refresh)": f"{spread['spread_s']:.1f} s",
        "spread of the middle 90%": f"{spread['p05_p95_spread_s']:.1f} s",
        "standard deviation": f"{spread['stdev_s']:.1f} s",
        "jitter": f"refresh_margin {spread['refresh_margin']:g} s raised by up to {spread['jitter_fraction']:.0%}",
    }
    return [
        table(["A day of traffic", ""], [list(fact) for fact in facts.items()]),
        "A fake clock replaces `powertools_sts._clock.now`; the proxy in front of moto stamps `Expiration` from it and "
        "counts every AssumeRole. Refresh times are read from each provider's cache entries.",
    ]


def _memory(r: Results) -> list[str]:
    m, out = r["memory"], []
    for name, label in m["labels"].items():
        run = m["patterns"][name]
        done = f"{run['invocations']:,}" + (f" of {run['planned']:,}" if run["capped"] else "")
        sites = "; ".join(f"`{site['site']}` {nbytes(site['bytes'])}" for site in run["sites"]) or "-"
        growth, per, projected = (nbytes(run[k]) for k in ("growth_bytes", "bytes_per_invocation", "projected_bytes"))
        out += [[label, done, f"**{growth}**", per, projected if run["capped"] else "-", f"{run['wall_s']:.1f}", sites]]
    return [
        table(["Pattern", "invocations", "growth", "per invocation", "projected", "s", "largest growth by site"], out),
        f"Per pattern (the documented ones, STS moto), {m['warmup']:,} invocations warm up, then {m['invocations']:,} "
        "run: the growth is `tracemalloc`'s traced memory after them less after the warm-up, each after "
        f"`gc.collect()`; the target, below 1 MiB, holds in both modes. A pattern stops at {m['budget_s']:g} s, its "
        "growth then projected to the planned count. Sites: the innermost `powertools_sts` line on the allocation's "
        f"stack, else the allocating line. The tenants' pattern asks {m['tenants']:,} tenants {m['per_tenant']:,} "
        f"times each on a fake clock moving {m['tenant_seconds']:g} s per call: their 900 s credentials expire, and a "
        f"cache keeping expired entries would grow by one per tenant ({m['tenant_fetches']:,} AssumeRole calls).",
    ]


def _tenant_memory(r: Results) -> list[str]:
    t = r.get("tenant_memory")
    if t is None:
        return []
    if "skipped" in t:
        return ["### Tenants through `max_tenants`", f"Not measured in this run: {t['skipped']}"]
    most = t["max_tenants"]
    facts = {
        "tenants in turn (planned)": f"{t['tenants_done']:,} ({t['planned_tenants']:,})",
        "RSS, no tenant": nbytes(t["rss_empty_bytes"]),
        f"RSS, {most} tenants resident": nbytes(t["rss_resident_bytes"]),
        f"**memory per resident tenant** (the difference / {most})": f"**{nbytes(t['per_tenant_bytes'])}**",
        f"RSS after {t['warmup_tenants']:,} tenants (the warm-up)": nbytes(t["rss_warmed_bytes"]),
        f"RSS after {t['tenants_done']:,} tenants": nbytes(t["rss_end_bytes"]),
        f"**growth over the last {t['measured_tenants']:,}**": f"**{nbytes(t['growth_bytes'])}**",
        "a new tenant's first invocation (AssumeRole, session and S3 client), ms": num(t["ms_per_new_tenant"]),
        "tenants resident / provider entries at the end": f"{t['tenants_resident_at_end']} / {t['provider_entries_at_end']}",
    }
    return [
        "### Tenants through `max_tenants`",
        table(["Per-tenant entry, `get_client(name, 's3')` per invocation", ""], [list(f) for f in facts.items()]),
        f"A process of its own: one per-tenant entry with `max_tenants={most}`, each invocation of another tenant "
        "(never seen before) calling `get_client(name, 's3')`; STS is moto. RSS (`/proc/self/statm`) after "
        f"`gc.collect()`: with no tenant (a first S3 client already built, so botocore's modules are loaded), with "
        f"{most} resident, after a second round of {most} (each admission then evicts a tenant with its session and "
        f"client: the warm-up), and after the tenants that follow until {t['planned_tenants']:,} in all or "
        f"{t['budget_s']:g} s. Each tenant's session is built as `boto3.Session()` builds one, with botocore's own "
        "data loader: its models are parsed again and kept per tenant.",
    ]


def _models(r: Results) -> list[str]:
    pc, mi = r["models"]["provisioned"], r["models"]["workers"]
    pc_header = ["Variant", "INIT: start to the first `next`, s", "AssumeRole calls at INIT"]
    pc_header += [
        "first invocation, event to response, ms",
        "in the handler, ms",
        "AssumeRole calls in flight during it",
    ]
    pc_cells = [col(pc["init_s"]), col(pc["calls_at_init"], count), col(pc["latency_ms"])]
    pc_cells += [col(pc["handler_ms"]), col(pc["calls_during"], count)]
    mi_cells = [lambda v, role=role: count(mi["per_role"][v][role]) for role in mi["roles"]]
    mi_cells += [lambda v: f"{mi['extra_after'][v]} / {mi['extra_overlapping'][v]}", col(mi["init_s"])]
    mi_header = ["Variant", *(f"`{role}` calls" for role in mi["roles"])]
    mi_header += ["calls past the first per role: after it was answered / while in flight", "INIT, s"]
    return [
        "Each run starts the real runtime client, `python -m awslambdaric`, against a Runtime API on 127.0.0.1 "
        "(`benchmarks/_loopback.py`) timing every exchange; STS is moto behind the proxy of section 4, "
        f"{pc['delay_ms']:.0f} ms per AssumeRole; the handler reads three entries. Each measurement runs the package "
        "beside **today** (the behaviour before issue 11).",
        "### Provisioned concurrency: the first invocation after a freeze",
        table(pc_header, rows(pc["labels"], *pc_cells)),
        f"{plural(pc['rounds'], 'round')}, alternating, `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`. "
        "At its first `invocation/next` the runtime is stopped (SIGSTOP), as Lambda freezes it, prefetch threads "
        f"included; {pc['freeze_s']:g} s later SIGCONT, and one event. The calls in flight are those whose "
        "arrival-to-answer interval at the proxy overlaps the invocation.",
        "### Managed Instances: AssumeRole calls per role at INIT",
        table(mi_header, rows(mi["labels"], *mi_cells)),
        f"{plural(mi['rounds'], 'environment')} per variant, alternating, each with a fresh `TMPDIR`; "
        f"`AWS_LAMBDA_MAX_CONCURRENCY={mi['workers']}`: the runtime client forks {mi['workers']} workers. The calls "
        f"are counted once all {mi['workers']} wait for an invocation (INIT: from the start until then).",
        "### Managed Instances: the slowest invocation across a refresh",
        *_refresh(r["models"]["refresh"]),
        "### Cold start against a hand-written handler that imports Powertools",
        *_handwritten(r["models"]["handwritten"]),
    ]


REFRESH = {
    "invocations": lambda run: f"{run['invocations']:,}",
    "median ms": lambda run: num(run["median_ms"]),
    "p99 ms": lambda run: num(run["p99_ms"]),
    "slowest ms": lambda run: f"**{num(run['max_ms'])}**",
    "slowest / median": lambda run: f"**{run['max_over_median']:.2f}x**",
    "over 1.1x the median": lambda run: str(run["over_10pct"]),
    "overlapping an AssumeRole (its worker's)": lambda run: (
        f"{run['with_sts_in_flight']} ({run['with_own_sts_in_flight']})"
    ),
    "slowest overlapping none, ms": lambda run: num(run["max_without_sts_ms"]),
    "STS calls before / in the window": lambda run: f"{run['calls_before_window']} / {run['calls_in_window']}",
}


def _refresh(refresh: Results) -> list[str]:
    if "skipped" in refresh:
        return [f"Not measured in this run: {refresh['skipped']}"]
    package = refresh["runs"]["package"]
    return [
        table(
            ["Variant", *REFRESH], rows(refresh["labels"], *(col(refresh["runs"], show) for show in REFRESH.values()))
        ),
        f"{refresh['workers']} workers. The proxy stamps `Expiration` {refresh['lifetime_s']:g} s ahead: nothing is "
        f"served within 60 s of it, so a fetch is fresh for {refresh['fresh_s']:g} s. After a warm-up, events at "
        f"{refresh['rate']:g}/s for {package['window_s']:.0f} s ({plural(refresh['cycles'], 'end')} of freshness; "
        f"{package['workers_seen']} workers answered); the handler sleeps {refresh['work_ms']:g} ms, standing for its "
        "own downstream call. An invocation overlaps an AssumeRole whose interval at the proxy meets its own, its "
        "worker's when the RoleSessionName is. Today: `refresh_ahead=False`, no shared cache, `prefetch_timeout=0`.",
    ]


HANDWRITTEN = {
    "cold_sts": "`@sts(fetch_data={'reports': ROLE})`, `get_credentials`",
    "cold_boto3": "by hand: `boto3.client('sts')` at import, `assume_role` at the first invocation, a global",
}


def _handwritten(cold: Results) -> list[str]:
    header = ["Module", "imports ms", "module set-up ms", "runtime ms", "first invocation ms", "import + first ms"]

    def phases(of: Results) -> str:
        lines = rows(
            HANDWRITTEN, *(col(of[k]) for k in ("imports_ms", "setup_ms", "runtime_ms", "invocation_ms", "total_ms"))
        )
        return table(
            header, [*lines, ["sts module / hand-written, per round", "", "", "", "", f"**{mmm(of['ratio'], 'x')}**"]]
        )

    full, full_ms = cold["full_collections"], cold["full_collection_ms"]
    return [
        phases(cold),
        f"{cold['rounds']} rounds, the modules alternating, each in a fresh runtime client, on-demand (the event "
        "queued before it starts), STS moto itself: the comparison is the CPU each side spends. A wrapper stamps the "
        "time before the import; each module stamps its imports and set-up. Full garbage collections in the span, "
        f"median {full['cold_sts']['median']:g} and {full['cold_boto3']['median']:g}: "
        f"{full_ms['cold_sts']['median']:.1f} ms against {full_ms['cold_boto3']['median']:.1f} ms. Below, the same "
        "rounds with the collector off in both (`gc.disable()` before the import):",
        phases(cold["collector_off"]),
        *(f'```python title="{path}"\n--8<-- "{path}"\n```' for path in cold["modules"].values()),
    ]


def _fleet(r: Results) -> list[str]:
    if "fleet" not in r:
        return []
    fleet, out = r["fleet"], []
    for run in fleet["runs"]:
        out.append(
            [
                f"{run['environments']} x {run['tenants']}",
                f"{run['lifetime']:,}",
                f"{run['interval']:g} s for {run['hours']:g} h",
                f"{run['invocations']:,}",
                f"{run['calls']:,} ({run['calls_per_pair']['min']}-{run['calls_per_pair']['max']} per pair)",
                f"{run['simulated_per_second']:.5f}",
                f"{run['model_per_second']:.5f}",
                f"**{run['deviation']:+.2%}**",
            ]
        )
    header = ["Environments x tenants", "DurationSeconds", "each tenant invoked every", "invocations"]
    header += ["AssumeRole calls", "simulated calls/s", "model calls/s", "deviation"]
    return [
        table(header, out),
        "One real `STSProvider` per environment, asked `get(role, Tags=[{'Key': 'TenantID', ...}], DurationSeconds=...)` "
        "for each of its tenants at every invocation, on a fake clock; STS is a botocore client whose `before-call` hook "
        "counts the calls and answers with credentials of the requested lifetime. Each pair's first invocation falls at "
        "a random point of its cycle, so the count is the steady rate's. The model (`benchmarks/_fleet.py`): each "
        f"(environment, tenant) pair refreshes once per `DurationSeconds - margin`, the margin {fleet['refresh_margin']:g} "
        f"s raised by a jitter of up to {fleet['jitter_fraction']:.0%} (capped at half the lifetime, at least 60 s), "
        "rounded up to the tenant's next invocation; the fleet makes pairs / mean cycle calls per second, against the "
        f"account's {fleet['quota']:,.0f}/s. With busy tenants, the model gives the table of "
        "[Multi-tenant SaaS](multi-tenant.md#sts-quota-arithmetic):",
        fleet["model_table"].rstrip("\n"),
    ]


INTRO = (
    "How much powertools-sts costs on the two paths of a Lambda function, beside what a user would otherwise write: "
    "the warm invocation and the cold start. The machine is shared and noisy, so every timing is repeated in rounds, "
    "the variants interleaved; tables show the median and [min-max] over the rounds, ratios are taken within a round. "
    "STS is moto on 127.0.0.1. `make bench` writes this page, the chart and the raw results (`benchmarks.json`)."
)
QUICK = "> **Quick mode** (`--quick`): few rounds and samples; the figures only prove the benchmark runs."
TAIL = """## What the first runs found, and what was done

- **Warm overhead 2.9x the no-op middleware's**: the step became a per-layer closure; its `ContextVar` is set only when
  another layer bears the same name.
- **Import, 11 ms**: regular expressions compiled on first use; `Credentials`' `__eq__`/`__hash__` written out.
- **First client, 100 ms of CPU**: one botocore data loader for the package's own STS clients, which skips botocore's walk of
  every service's folder and decodes without `OrderedDict`s (`powertools_sts/_botocore.py`).
- **Cold start 1.16x the hand-written handler's**: a full garbage collection fell in one process only; the comparison
  now runs under `awslambdaric`, as on Lambda, and reports the time in full collections.

## Reproducing

`make bench` (a few minutes) rewrites this page, `benchmarks.png` and `benchmarks.json`; `make bench-quick` (CI) runs
every measurement briefly into a temporary directory; `benchmarks/run.py --from-results docs/benchmarks.json` writes
the page and the chart again from recorded results, measuring nothing."""
# (heading, its blocks from the results, none to leave it out): a new section is one more entry and its function.
SECTIONS: list[tuple[str, Callable[[Results], list[str]]]] = [
    ("Machine", _machine),
    ("1. Warm overhead per invocation", _warm),
    ("2. Getting a client", _clients),
    ("3. Cold start", _cold),
    ("4. Prefetch with 100 ms of STS latency", _prefetch),
    ("5. STS calls over a day, and the spread of refreshes", _sts_calls),
    ("6. Memory over many invocations", lambda r: [*_memory(r), *_tenant_memory(r)]),
    ("7. Execution models, and a hand-written handler", _models),
    ("8. The fleet model of tenants: STS calls per second", _fleet),
]


def page(results: Results) -> str:
    targets, verdict = results["targets"], {True: "**pass**", False: "**miss**"}
    lines = [[t["target"], t["figure"], verdict[t["pass"]], t["headroom"]] for t in targets]
    parts = ["# Benchmarks", INTRO, QUICK if results["mode"] == "quick" else ""]
    parts += [f"## Targets: {sum(t['pass'] for t in targets)} of {len(targets)} met"]
    parts += [table(["Target", "Measured (median)", "Result", "Margin"], lines)]
    parts += [
        "\n".join(f"* **Miss**: {t['target']}. {t['why'][0].upper()}{t['why'][1:]}." for t in targets if not t["pass"])
    ]
    for heading, blocks in SECTIONS:
        parts += [f"## {heading}", *section] if (section := blocks(results)) else []
    return "\n\n".join(part for part in [*parts, TAIL] if part) + "\n"


def console(results: Results) -> str:
    """Every target, and under each miss what it means and whether it fails anything."""
    lines, quick = ["", "targets:"], results["mode"] == "quick"
    for t in results["targets"]:
        lines.append(f"  [{'pass' if t['pass'] else 'MISS'}] {t['target']}: {t['figure']} ({t['headroom']})")
        if not t["pass"]:
            weight = (
                "too few samples to judge it" if t["kind"] == "timing" else "counted: few samples do not explain it"
            )
            mode = f"quick run: {weight}; the full run's figure is in docs/benchmarks.md" if quick else "full run"
            lines += [f"         why: {t['why']}", f"         {mode}; make test does not fail on it"]
    skipped = [name for name, part in results["models"].items() if "skipped" in part]
    return "\n".join(lines + [f"  [skip] section 7, {name}: {results['models'][name]['skipped']}" for name in skipped])
