"""``slidemap bench``: the performance suite of SPEC §8 and the JSON it writes.

::

    from slidemap.bench import BenchOptions, run_bench
    report = run_bench(BenchOptions.for_mode("quick"))
    print(format_table(report))
    write_json(report.to_dict(version, created), Path("results.json"))

The JSON document (schema ``slidemap-bench/4``; docs/performance.md has the
full description)::

    schema, slidemap_version, created, mode, seconds
    machine       cpu_model, logical_cpus, physical_cores, torch_threads,
                  features {avx2, avx512, avx512_bf16, amx, native_bf16,
                  torch_capability}, versions {...}, load_average {start, end}
    measurements  [{name, group, value, unit, params, baseline, ratio, samples}]
    skipped       [{name, reason}]
    targets       [{name, goal, measured, unit, met, basis}]
    defaults      predict {backend, precision, bf16_available},
                  train {channels_last, precision},
                  compared [{what, default, fastest_exact, fastest}]

Modules: :mod:`.suite` (options, the steps), :mod:`.machine`,
:mod:`.training`, :mod:`.accuracy`, :mod:`.inference`, :mod:`.scene` (+
:mod:`.child`, the scene's own process), :mod:`.synthetic`, :mod:`.targets`,
:mod:`.defaults`, :mod:`.results`, :mod:`.table`. Apart from the suite,
:mod:`.l4s_cv` cross-validates training recipes on real Landslide4Sense
patches against the plain reference loop of :mod:`.plain_unet`
(``benchmarks/l4s_accuracy.py``, docs/accuracy.md).
"""

from slidemap.bench.results import SCHEMA, BenchReport, Measurement, Skipped, Target, write_json
from slidemap.bench.suite import MODES, BenchOptions, run_bench
from slidemap.bench.table import format_table

__all__ = [
    "MODES",
    "SCHEMA",
    "BenchOptions",
    "BenchReport",
    "Measurement",
    "Skipped",
    "Target",
    "format_table",
    "run_bench",
    "write_json",
]
