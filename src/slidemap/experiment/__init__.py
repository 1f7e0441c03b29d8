"""The transferability experiment: scenarios × window sizes × models × seeds (paper Tables 4–7).

An experiment file (TOML; every key in :data:`EXPERIMENT_FILE_EXAMPLE`
below, which ``slidemap experiment --help`` shows) names prepared
areas, training scenarios (sets of areas; by default "all" and each area
alone, as in the paper), models, window sizes and seeds, plus ``[train]`` and
``[evaluate]`` options. Each job trains one model on its scenario's train
parts and evaluates it on every area's test part and on all test parts
together::

    from slidemap.experiment.run import run_experiment
    summary = run_experiment(Path("examples/paper.toml"), Path("exp"), workers=2)

Modules: :mod:`~slidemap.experiment.config` (the file),
:mod:`~slidemap.experiment.jobs` (keys, one job), :mod:`~slidemap.experiment.executor`
(sequential or Dask), :mod:`~slidemap.experiment.results` (``results.csv``),
:mod:`~slidemap.experiment.run` (all of it). This package module itself only
documents the file format, so that the command line imports it without torch.

Experiment directory::

    experiment.json      the resolved design: name, areas (absolute paths),
                         band_names, scenarios, models, patches, seeds, train
                         and evaluate options, slidemap_version, jobs, threads_per_job
    jobs/<key>/          one per distinct job (see slidemap.experiment.jobs):
                         job.json, run/, eval/, result.json
    results.csv          written when every job is done (see slidemap.experiment.results)

Resuming: run the same command again. Jobs whose ``result.json`` exists are
skipped, an interrupted job resumes its training from ``last.pt``, and
``results.csv`` is rewritten from all ``result.json`` files, so an
interrupted and resumed experiment gives the same results as an
uninterrupted one.
"""

EXPERIMENT_FILE_EXAMPLE = """\
name = "paper"                   # experiment name (ASCII letters, digits, - _ .)
models = ["unet", "resunet"]     # default: both
patches = [32, 64, 128]          # training window sides in px, multiples of 16 (default: these)
seeds = [0]                      # one trained model per seed (default: [0])

[areas]                          # area name = prepared area directory
taiwan-like = "prepared/taiwan-like"
china-like = "prepared/china-like"
japan-like = "prepared/japan-like"

[scenarios]                      # scenario = training areas (default: "all" + each area)
all = ["taiwan-like", "china-like", "japan-like"]
taiwan = ["taiwan-like"]

[train]                          # slidemap train options (defaults as there)
epochs = 100
patience = 10
batch = 4
lr = 0.001
betas = [0.9, 0.999]
pos_weight = 10.0                # BCE weight of landslide pixels; 1 = plain BCE (paper)
precision = "auto"               # auto (bf16 where native, else fp32) | fp32 | bf16 | fp16 (CUDA)
channels_last = true
nodata_max = 0.5
device = "auto"                  # auto | cpu | cuda (not part of the job key)
threads = 2                      # torch threads per job (not part of the job key);
                                 # default: CPU cores // --workers (1 with --scheduler)

[evaluate]                       # slidemap evaluate options
mode = "whole"                   # whole | patches
window = 256
overlap = 64
threshold = 0.5                  # leave out to use each model's (picked on validation)
iou_threshold = 0.5              # object matching
size_edges_m2 = [1000, 10000]    # object size classes
"""
