"""The bench's stdout table: ratios first (speed-up, % of peak), absolute numbers after."""

from __future__ import annotations

from typing import Any

from slidemap.bench.results import BenchReport, Measurement, Target

#: Group → (section title, how its ratio reads).
SECTIONS = {
    "peak": ("Matmul peak (fastest of torch.mm and OpenVINO MatMul, best of repeats)", "vs fp32"),
    "train": ("Training throughput (speed-up vs naive eager fp32, batch 4)", "speed-up"),
    "train_gflops": (
        "Training GFLOP/s (3 x forward FLOPs per window; % of the run's fp32 peak)",
        "% peak",
    ),
    "accuracy": ("Accuracy guard (F1 on the synthetic test part; ratio vs fp32)", "F1 ratio"),
    "infer": ("Inference throughput, scene px (speed-up vs naive eager fp32)", "speed-up"),
    "gflops": ("Achieved GFLOP/s (windows' FLOPs incl. overlap; % of fp32 peak)", "% peak"),
    "maxdiff": ("Max |probability difference| vs naive eager fp32", ""),
    "scene": ("Whole-scene predict (ratio vs smallest scene: ~1 = linear / flat)", "ratio"),
}


def _ratio(m: Measurement) -> str:
    if m.ratio is None:
        return "-"
    if m.group in ("gflops", "train_gflops"):
        return f"{100 * m.ratio:.0f} %"
    return f"{m.ratio:.2f}x"


def _value(m: Measurement) -> str:
    if m.unit == "probability":
        return f"{m.value:.1e}"
    if m.unit == "F1":
        return f"{m.value:.3f}"
    return f"{m.value:,.3g}" if m.value < 100 else f"{m.value:,.0f}"


def _short(m: Measurement) -> str:
    return m.name.split(".", 1)[1] if "." in m.name else m.name


def _note(m: Measurement) -> str:
    """Context after the unit: the spread of probabilities, the seconds of a scene."""
    p = m.params
    if m.group == "maxdiff" and "mean_abs_diff" in p:
        return f"mean {p['mean_abs_diff']:.1e}, class flipped {100 * p['flipped_share']:.3f} %"
    if m.group == "scene":
        return f"{p['seconds']:.1f} s, {p['backend']}"
    if m.group == "peak" and "op_peaks" in p:
        return ", ".join(f"{op} {rate:,.0f}" for op, rate in p["op_peaks"].items())
    return ""


def _choice(choice: dict[str, Any] | None) -> str:
    if choice is None:
        return "-"
    speedup = f" {choice['speedup']:.2f}x" if choice["speedup"] else ""
    option = "" if choice["option"] == "default" else choice["option"]
    return f"{option}{speedup}".strip()


def _defaults(defaults: dict[str, Any]) -> list[str]:
    """The defaults here and, per model (and size), default / fastest exact / fastest."""
    predict, train = defaults["predict"], defaults["train"]
    lines = [
        "",
        "Defaults here vs fastest measured (speed-up over naive)",
        f"  predict --backend auto -> {predict['backend']} {predict['precision']}; "
        f"train: channels_last {'on' if train['channels_last'] else 'off'}, "
        f"{train['precision']}",
    ]
    width = max((len(c["what"]) for c in defaults["compared"]), default=10)
    for c in defaults["compared"]:
        lines.append(
            f"  {c['what']:<{width}}  default {_choice(c['default'])}; fastest exact "
            f"{_choice(c['fastest_exact'])}; fastest {_choice(c['fastest'])}"
        )
    return lines


def _verdict(t: Target) -> str:
    return {True: "met", False: "NOT met", None: "undecided"}[t.met]


def format_table(report: BenchReport) -> str:
    """The report as text: machine line, one section per group, the SPEC §8 verdicts."""
    m = report.machine
    f = m["features"]
    yes = {True: "yes", False: "no"}
    load = m["load_average"]
    lines = [
        f"slidemap bench ({report.mode}, {report.seconds:.0f} s): {m['cpu_model']}, "
        f"{m['physical_cores']} cores, torch threads {m['torch_threads']}",
        f"CPU features: AVX2 {yes[f['avx2']]}, AVX-512 {yes[f['avx512']]}, "
        f"AVX-512-BF16 {yes[f['avx512_bf16']]}, AMX {yes[f['amx']]} "
        f"(torch: {f['torch_capability']}); load average {load.get('start')} -> "
        f"{load.get('end')}",
    ]
    width = max((len(_short(x)) for x in report.measurements), default=20)
    for group, (title, ratio_name) in SECTIONS.items():
        rows = report.group(group)
        if not rows:
            continue
        lines += ["", title, f"  {'':<{width}}  {ratio_name:>9}  {'value':>10}  unit"]
        for row in rows:
            note = _note(row)
            lines.append(
                f"  {_short(row):<{width}}  {_ratio(row):>9}  {_value(row):>10}  {row.unit}"
                + (f"  ({note})" if note else "")
            )
    if report.defaults:
        lines += _defaults(report.defaults)
    if report.skipped:
        lines += ["", "Not measured"]
        lines += [f"  {s.name}: {s.reason}" for s in report.skipped]
    if report.targets:
        lines += ["", "SPEC section 8 targets (relative to this machine)"]
        for t in report.targets:
            lines.append(f"  [{_verdict(t)}] {t.goal}: {t.basis}")
    return "\n".join(lines)
