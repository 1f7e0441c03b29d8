"""Fuzzing the input parsers: area files, experiment files and Landslide4Sense HDF5 patches.

Random bytes, mutated valid files and structurally valid documents with wrong
types or values go through :func:`slidemap.config.load_area_config`,
:func:`slidemap.experiment.config.load_experiment_file` (and the job planning
that follows it) and :mod:`slidemap.io.l4s`. Whatever the input, the only
exception allowed out is :class:`SlidemapError`; what is accepted must be
usable (finite numbers, valid names, paths the OS can take).

Example counts are bounded so that the file runs in about a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_tiny_area
from slidemap.config import AREA_FILE_EXAMPLE, AREA_NAME_RE, AreaConfig, load_area_config
from slidemap.errors import SlidemapError
from slidemap.experiment.config import ExperimentConfig, load_experiment_file
from slidemap.experiment.jobs import plan_jobs
from slidemap.io.l4s import L4S_BANDS, PATCH_PX, find_patches, read_image, read_mask

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- TOML values

_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)  # no lone surrogates
_scalars = st.one_of(
    _text,
    st.sampled_from(["", " ", "~", "~no-such-user-xyz/a", "a\x00b", "..", "/", "B2", "unet"]),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 16, 32, 2**31, 2**32, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-300, 1e300, math.inf, -math.inf, math.nan]),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
)
toml_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_text.filter(bool), children, max_size=4),
    ),
    max_leaves=12,
)
#: Values at the edges of what the options take: limits, non-finite numbers, look-alikes.
_edges = st.sampled_from(
    [
        *(0, 1, -1, 16, 2**32 - 1, 2**32, 2**63 - 1, -(2**63), 0.5, 1.0, 1e300, -1e-300),
        *(math.inf, -math.inf, math.nan, True, "1", "unet", "whole"),
    ]
)
option_values = st.one_of(_edges, st.lists(_edges, min_size=1, max_size=3), toml_values)


def _quoted(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's; characters beyond ASCII stay as they are
    (JSON would write them as surrogate pairs, which TOML refuses)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_literal(value: Any) -> str:
    """``value`` as a TOML inline value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_quoted(k)} = {toml_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(tables: dict[str, dict[str, Any]]) -> str:
    """A TOML document: ``tables[""]`` at the top, every other entry as ``[name]``."""
    lines = [f"{_quoted(k)} = {toml_literal(v)}" for k, v in tables.get("", {}).items()]
    for name, table in tables.items():
        if name:
            lines.append(f"[{_quoted(name)}]")
            lines += [f"{_quoted(k)} = {toml_literal(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with a few lines deleted, duplicated, rewritten or cut short, or bytes flipped."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        op = draw(st.sampled_from(["delete", "duplicate", "value", "junk", "header", "truncate"]))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "value" and lines and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {toml_literal(draw(toml_values))}"
        elif op == "junk":
            lines.insert(i, draw(st.text(max_size=20)))
        elif op == "header":
            lines.insert(i, f"[{draw(st.sampled_from(['bands', 'dem', 'split', 'x', 'bands.x']))}]")
        elif op == "truncate":
            lines = lines[:i]
    data = bytearray("\n".join(lines).encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 2))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _only_slidemap_errors(load: Callable[[Path], Any], path: Path, data: bytes) -> Any:
    """Write ``data`` to ``path`` and load it; None for a SlidemapError, else the result."""
    path.write_bytes(data)
    try:
        return load(path)
    except SlidemapError as exc:
        assert str(exc), "an empty error message"
        return None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- area files

AREA_KEYS = {
    "": ["name", "synthetic", "bands", "dem", "inventory", "aoi", "split", "other"],
    "bands": [
        *("names", "files", "stack", "indexes", "product", "resampling", "scale"),
        *("offset", "metadata", "nodata", "crs", "resolution", "bogus"),
    ],
    "dem": ["path", "nodata", "slope", "x"],
    "inventory": ["path", "layer", "all_touched"],
    "aoi": ["path", "x"],
    "split": ["fraction", "direction", "validation", "path", "field"],
}


def _check_area_config(cfg: AreaConfig) -> None:
    """What a loaded area file promises the rest of slidemap."""
    assert AREA_NAME_RE.fullmatch(cfg.name)
    b = cfg.bands
    assert b.names and len(set(b.names)) == len(b.names) and "slope" not in b.names
    assert sum(x is not None for x in (b.files, b.stack, b.product)) == 1
    if b.indexes is not None:
        assert all(type(i) is int and i >= 1 for _, i in b.indexes)
    assert b.resolution is None or 0 < b.resolution < math.inf
    assert b.offset is None or math.isfinite(b.offset)
    paths = [p for _, p in b.files or ()] + [b.stack, b.product, b.metadata, cfg.aoi]
    paths += [cfg.dem.path if cfg.dem else None, cfg.inventory.path if cfg.inventory else None]
    paths += [cfg.split.path]
    for p in paths:
        assert p is None or "\0" not in str(p)
    assert 0 < cfg.split.fraction < 1 and 0 < cfg.split.validation < 1


@FUZZ
@given(data=st.binary(max_size=300))
def test_area_file_of_random_bytes(workdir: Path, data: bytes) -> None:
    cfg = _only_slidemap_errors(load_area_config, workdir / "bytes.toml", data)
    if cfg is not None:
        _check_area_config(cfg)


@FUZZ
@given(data=mutated(AREA_FILE_EXAMPLE))
def test_mutated_area_file(workdir: Path, data: bytes) -> None:
    cfg = _only_slidemap_errors(load_area_config, workdir / "mutated.toml", data)
    if cfg is not None:
        _check_area_config(cfg)


@st.composite
def area_documents(draw: st.DrawFn) -> str:
    """Area files with schema keys (and a few others) holding any TOML value."""
    tables: dict[str, dict[str, Any]] = {"": {"name": draw(st.sampled_from(["a", "a\n", "-a"]))}}
    for table in draw(st.lists(st.sampled_from(list(AREA_KEYS)[1:]), unique=True, max_size=4)):
        tables[table] = {}
    tables.setdefault("bands", {"stack": "s.tif"})
    for table in tables:
        keys = draw(st.lists(st.sampled_from(AREA_KEYS[table]), unique=True, max_size=4))
        for key in keys:
            if table == "" and key in AREA_KEYS:
                continue  # a table, written as [key]
            tables[table][key] = draw(option_values)
    return toml_document(tables)


@FUZZ
@given(text=area_documents())
def test_area_file_with_wrong_types_and_values(workdir: Path, text: str) -> None:
    cfg = _only_slidemap_errors(load_area_config, workdir / "typed.toml", text.encode())
    if cfg is not None:
        _check_area_config(cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = " + "[" * 3000 + "]" * 3000, "arrays or tables nested too deeply"),
        ('name = "a"\n[bands]\nstack = "~no-such-user-xyz/s.tif"\n', "cannot expand '~'"),
        ('name = "a"\n[bands]\nstack = "s\\u0000.tif"\n', "cannot contain a NUL character"),
        ('name = "a\\n"\n[bands]\nstack = "s.tif"\n', "name: use ASCII letters, digits"),
        ('name = "a"\n[bands]\nstack = "s.tif"\nresolution = nan\n', "must be a positive number"),
        ('name = "a"\n[bands]\nstack = "s.tif"\nresolution = inf\n', "must be a positive number"),
        ('name = "a"\n[bands]\nstack = "s.tif"\noffset = -inf\n', "must be a finite number"),
        (
            'name = "a"\n[bands]\nnames = ["B2"]\nstack = "s.tif"\nindexes = { B2 = true }\n',
            "need a 1-based band index for each of ['B2']",
        ),
    ],
)
def test_area_file_cases_fuzzing_found(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "area.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SlidemapError) as info:
        load_area_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_area_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "area.toml"
    path.write_bytes(b'\xef\xbb\xbfname = "a"\n[bands]\nstack = "s.tif"\n')
    assert load_area_config(path).name == "a"


# --------------------------------------------------------------------------- experiment files


@pytest.fixture(scope="module")
def areas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding two small prepared areas, ``a`` and ``b``."""
    root = tmp_path_factory.mktemp("areas")
    make_tiny_area(root, "a", size=64, seed=0)
    make_tiny_area(root, "b", size=64, seed=1)
    return root


EXPERIMENT_KEYS = {
    "": ["name", "models", "patches", "seeds", "areas", "scenarios", "train", "evaluate"],
    "areas": ["c"],  # a and b stay, so that most files get past [areas]
    "scenarios": ["s", "all"],
    "train": [
        *("epochs", "patience", "batch", "lr", "betas", "pos_weight", "precision"),
        *("channels_last", "nodata_max", "device", "threads"),
    ],
    "evaluate": [
        *("mode", "window", "overlap", "threshold", "iou_threshold", "size_edges_m2"),
    ],
}
EXPERIMENT_BASE = """\
name = "fuzz"
models = ["unet"]
patches = [32]
seeds = [0, 1]

[areas]
a = "a"
b = "b"

[scenarios]
all = ["a", "b"]
a = ["a"]

[train]
epochs = 2
patience = 1
lr = 0.001
betas = [0.9, 0.999]
pos_weight = 2.0
nodata_max = 0.5
threads = 1

[evaluate]
mode = "whole"
window = 32
overlap = 8
threshold = 0.5
iou_threshold = 0.5
size_edges_m2 = [1000, 10000]
"""


def _load_and_plan(path: Path) -> ExperimentConfig:
    """Load an experiment file and plan its jobs as ``slidemap experiment`` does."""
    config = load_experiment_file(path)
    jobs = plan_jobs(config, path.parent / "out", threads=1)
    for job in jobs:
        # every accepted option must be one training takes (TrainConfig validates)
        job.train.train_config(
            tuple(dict(job.areas)[a] for a in job.train_areas),
            job.directory / "run",
            job.model,
            job.patch,
            job.seed,
            job.threads,
        )
    return config


def _check_experiment(config: ExperimentConfig) -> None:
    assert AREA_NAME_RE.fullmatch(config.name)
    assert config.areas and config.scenarios and config.models and config.patches
    assert all(0 <= s < 2**32 for s in config.seeds)
    t, e = config.train, config.evaluate
    for value in (t.lr, *t.betas, t.nodata_max, e.iou_threshold, *e.size_edges_m2):
        assert math.isfinite(value)
    assert 0 < t.pos_weight < math.inf
    assert e.threshold is None or 0 < e.threshold < 1


@FUZZ
@given(data=mutated(EXPERIMENT_BASE))
def test_mutated_experiment_file(areas: Path, data: bytes) -> None:
    config = _only_slidemap_errors(_load_and_plan, areas / "mutated.toml", data)
    if config is not None:
        _check_experiment(config)


@st.composite
def experiment_documents(draw: st.DrawFn) -> str:
    """The base experiment with schema keys set to any TOML value (or removed)."""
    tables: dict[str, dict[str, Any]] = {
        "": {"name": "fuzz", "patches": [32]},
        "areas": {"a": "a", "b": "b"},
    }
    for table in draw(st.lists(st.sampled_from(["scenarios", "train", "evaluate"]), unique=True)):
        tables[table] = {"all": ["a", "b"]} if table == "scenarios" else {}
    for table in tables:
        for key in draw(st.lists(st.sampled_from(EXPERIMENT_KEYS[table]), unique=True, max_size=3)):
            if table == "" and key in EXPERIMENT_KEYS:
                continue
            if draw(st.booleans()):
                tables[table].pop(key, None)
            else:
                tables[table][key] = draw(option_values)
    return toml_document(tables)


@FUZZ
@given(text=experiment_documents())
def test_experiment_file_with_wrong_types_and_values(areas: Path, text: str) -> None:
    config = _only_slidemap_errors(_load_and_plan, areas / "typed.toml", text.encode())
    if config is not None:
        _check_experiment(config)


EXPERIMENT_OPTIONS = [
    (table, key)
    for table in ("", "train", "evaluate")
    for key in EXPERIMENT_KEYS[table]
    if key not in EXPERIMENT_KEYS
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize(("table", "key"), EXPERIMENT_OPTIONS)
@given(value=option_values)
def test_each_experiment_option_with_any_value(
    areas: Path, table: str, key: str, value: Any
) -> None:
    """One option of a valid experiment file set to anything: refused, or usable by training."""
    tables: dict[str, dict[str, Any]] = {
        "": {"name": "fuzz", "patches": [32]},
        "areas": {"a": "a", "b": "b"},
    }
    tables.setdefault(table, {})[key] = value
    data = toml_document(tables).encode()
    config = _only_slidemap_errors(_load_and_plan, areas / f"option-{key}.toml", data)
    if config is not None:
        _check_experiment(config)


@pytest.mark.parametrize(
    ("section", "line", "message"),
    [
        ("[train]", "lr = inf", "[train] lr: must be a positive number, got inf"),
        ("[train]", "pos_weight = inf", "[train] pos_weight: must be a positive number, got inf"),
        ("[evaluate]", "size_edges_m2 = [nan]", "expected positive increasing areas in m²"),
        ("[evaluate]", "size_edges_m2 = [1.0, inf]", "expected positive increasing areas in m²"),
        ("", "seeds = [4294967296]", "seeds: seeds must be between 0 and 4294967295"),
        ("[areas]", 'c = "~no-such-user-xyz/c"', "[areas] c: cannot expand '~'"),
    ],
)
def test_experiment_cases_fuzzing_found(
    areas: Path, tmp_path: Path, section: str, line: str, message: str
) -> None:
    """Values the parser used to accept and that then crashed job planning or training."""
    key = line.split("=")[0].strip()
    lines = [x for x in EXPERIMENT_BASE.splitlines() if x.split("=")[0].strip() != key]
    text = "\n".join(lines).replace('"a"\n', f'"{areas / "a"}"\n', 1) + "\n"
    text = text.replace('b = "b"', f'b = "{areas / "b"}"')
    text = text.replace(f"{section}\n", f"{section}\n{line}\n") if section else f"{line}\n{text}"
    path = tmp_path / "exp.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SlidemapError) as info:
        _load_and_plan(path)
    assert message in str(info.value)


# --------------------------------------------------------------------------- L4S patches


def _write_h5(path: Path, name: str, data: Any, **kwargs: Any) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data, **kwargs)


@pytest.fixture(scope="module")
def l4s_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The bytes of a valid L4S image file and mask file (as h5py writes them)."""
    root = tmp_path_factory.mktemp("l4s")
    rng = np.random.default_rng(0)
    _write_h5(root / "image.h5", "img", rng.random((PATCH_PX, PATCH_PX, len(L4S_BANDS))))
    _write_h5(root / "mask.h5", "mask", (rng.random((PATCH_PX, PATCH_PX)) < 0.1).astype(np.uint8))
    return {"image": (root / "image.h5").read_bytes(), "mask": (root / "mask.h5").read_bytes()}


def _read_any(path: Path, kind: str) -> None:
    """Read ``path`` as an L4S image or mask; check what comes back if it is accepted."""
    try:
        if kind == "image":
            image = read_image(path, ("B2", "B3", "B4", "B8", "slope", "dem"))
            assert image.shape == (6, PATCH_PX, PATCH_PX) and image.dtype == np.float32
            assert np.isfinite(image).all()
        else:
            mask = read_mask(path)
            assert mask.shape == (PATCH_PX, PATCH_PX) and mask.dtype == np.uint8
            assert set(np.unique(mask).tolist()) <= {0, 1}
    except SlidemapError as exc:
        assert str(path) in str(exc)


@st.composite
def corrupted(draw: st.DrawFn, files: dict[str, bytes]) -> tuple[str, bytes]:
    """A valid file with bytes overwritten (mostly in the headers, the first 4 KiB) or cut."""
    kind = draw(st.sampled_from(["image", "mask"]))
    data = bytearray(files[kind])
    for _ in range(draw(st.integers(0, 12))):
        end = 4096 if draw(st.booleans()) else len(data)
        pos = draw(st.integers(0, end - 1))
        data[pos : pos + 4] = draw(st.binary(min_size=1, max_size=4))
    if draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return kind, bytes(data)


@FUZZ
@given(data=st.data())
def test_corrupted_l4s_files(l4s_files: dict[str, bytes], workdir: Path, data: Any) -> None:
    kind, content = data.draw(corrupted(l4s_files))
    path = workdir / f"{kind}_1.h5"
    path.write_bytes(content)
    _read_any(path, kind)


@FEW
@given(content=st.binary(max_size=2048), kind=st.sampled_from(["image", "mask"]))
def test_l4s_files_of_random_bytes(workdir: Path, content: bytes, kind: str) -> None:
    path = workdir / f"random_{kind}.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + content if content[:1] == b"\x00" else content)
    _read_any(path, kind)


_DTYPES = [
    "f8", ">f8", "f4", "f2", "i2", "u1", "i8", "?", "c8", "V4", "S3",
    [("a", "f8"), ("b", "i4")],
]  # fmt: skip
_VALUES = [0.0, 1.0, 2.0, -1.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 2**40]


@st.composite
def wrong_l4s_files(draw: st.DrawFn) -> tuple[str, Callable[[h5py.File], None]]:
    """Valid HDF5 files that are not quite L4S: other names, shapes, types, values, links."""
    kind = draw(st.sampled_from(["image", "mask"]))
    name = "img" if kind == "image" else "mask"
    shape = (PATCH_PX, PATCH_PX, len(L4S_BANDS)) if kind == "image" else (PATCH_PX, PATCH_PX)
    variant = draw(st.sampled_from(["data", "shape", "group", "soft", "external", "attr", "empty"]))
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    special = draw(st.sampled_from(_VALUES))
    count = draw(st.integers(0, 3))
    chunked = draw(st.booleans())

    def build(f: h5py.File) -> None:
        if variant == "data":
            values = np.zeros(shape)
            values.flat[:count] = special
            with np.errstate(invalid="ignore", over="ignore"):
                array = values.astype(dtype) if dtype.fields is None else np.zeros(shape, dtype)
            extra = {"chunks": True, "compression": "gzip"} if chunked and dtype.kind != "V" else {}
            f.create_dataset(name, data=array, **extra)
        elif variant == "shape":
            f.create_dataset(name, data=np.zeros((*shape[:-1], shape[-1] + count - 1)))
        elif variant == "group":
            f.create_group(name)
        elif variant == "soft":
            f[name] = h5py.SoftLink("/nowhere")
        elif variant == "external":
            f[name] = h5py.ExternalLink("no-such-file.h5", "/" + name)
        elif variant == "attr":
            f.attrs[name] = 1
        else:
            f.create_dataset(name, data=h5py.Empty("f8"))

    return kind, build


@FUZZ
@given(case=wrong_l4s_files())
def test_structurally_valid_but_wrong_l4s_files(
    workdir: Path, case: tuple[str, Callable[[h5py.File], None]]
) -> None:
    kind, build = case
    path = workdir / f"wrong_{kind}.h5"
    with h5py.File(path, "w") as f:
        build(f)
    _read_any(path, kind)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda f: f.create_dataset("img", data=np.full((128, 128, 14), 1e300)), "NaN/Inf"),
        (
            lambda f: f.__setitem__("img", h5py.SoftLink("/nowhere")),
            r"no dataset 'img' \(a broken link\)",
        ),
        (
            lambda f: f.__setitem__("img", h5py.ExternalLink("missing.h5", "/img")),
            r"no dataset 'img' \(a broken link\)",
        ),
        (lambda f: f.create_group("img"), r"no dataset 'img' \(found: img\)"),
    ],
)
def test_l4s_cases_fuzzing_found(
    tmp_path: Path, build: Callable[[h5py.File], None], message: str
) -> None:
    """Found by the fuzzers above: an overflow to Inf was accepted; links crashed h5py."""
    path = tmp_path / "image_1.h5"
    with h5py.File(path, "w") as f:
        build(f)
    with pytest.raises(SlidemapError, match=message):
        read_image(path, ("B2", "slope"))


@FEW
@given(
    names=st.lists(
        st.one_of(
            st.from_regex(r"(image|mask)_[0-9]{1,25}\.h5", fullmatch=True),
            st.sampled_from(["image_٣.h5", "image_03.h5", "mask_3.h5", "img", "mask", "x.h5"]),
        ),
        max_size=6,
        unique=True,
    ),
    dirs=st.lists(st.sampled_from(["img", "mask", "image_7.h5"]), max_size=2, unique=True),
)
def test_l4s_directory_listing(workdir: Path, names: list[str], dirs: list[str]) -> None:
    """Any mix of file and folder names: patches found in id order, or a SlidemapError."""
    root = workdir / "listing"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for d in dirs:
        (root / d).mkdir()
    for n in names:
        if not (root / n).exists():
            (root / n).write_bytes(b"")
    try:
        patches = find_patches(root)
    except SlidemapError as exc:
        assert str(root) in str(exc) or "same id" in str(exc)
        return
    ids = [p.id for p in patches]
    assert ids == sorted(set(ids)) and ids
