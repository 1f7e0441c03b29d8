"""Area files: valid ones load into frozen configs; bad ones name file, line and problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from slidemap.config import PAPER_BANDS, load_area_config
from slidemap.errors import SlidemapError

GOOD = """\
name = "iburi"

[bands]
names = ["B2", "B3", "B4"]
files = { B2 = "b2.tif", B3 = "b3.tif", B4 = "/abs/b4.tif" }
resampling = "bilinear"

[dem]
path = "dem.tif"

[inventory]
path = "slides.gpkg"
all_touched = true

[split]
fraction = 0.6
direction = "north-south"
validation = 0.2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "area.toml"
    path.write_text(text)
    return path


def test_valid_area_file(tmp_path: Path) -> None:
    cfg = load_area_config(write(tmp_path, GOOD))
    assert cfg.name == "iburi"
    assert cfg.bands.names == ("B2", "B3", "B4")
    assert dict(cfg.bands.files or ())["B2"] == tmp_path / "b2.tif"
    assert dict(cfg.bands.files or ())["B4"] == Path("/abs/b4.tif")
    assert cfg.dem is not None and cfg.dem.slope and cfg.dem.path == tmp_path / "dem.tif"
    assert cfg.inventory is not None and cfg.inventory.all_touched
    assert cfg.split.direction == "north-south" and cfg.split.validation == 0.2
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "x"  # type: ignore[misc]


def test_defaults(tmp_path: Path) -> None:
    cfg = load_area_config(write(tmp_path, 'name = "a"\n[bands]\nstack = "s.tif"\n'))
    assert cfg.bands.names == PAPER_BANDS
    assert cfg.bands.indexes == (("B2", 1), ("B3", 2), ("B4", 3), ("B8", 4))
    assert cfg.split.fraction == 0.6 and cfg.split.direction == "west-east"
    assert cfg.dem is None and cfg.inventory is None and not cfg.synthetic


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("fraction = 0.6", "fraction = 1.5"),
            "line 16: [split] fraction: must be between 0.0 and 1.0 (exclusive), got 1.5",
        ),
        (
            GOOD.replace("fraction = 0.6", 'fraction = "0.6"'),
            "line 16: [split] fraction: expected an integer or a number, got '0.6'",
        ),
        (
            GOOD.replace("all_touched = true", "all_touchd = true"),
            "line 13: [inventory] all_touchd: unknown key; "
            "expected one of: path, layer, all_touched",
        ),
        (
            GOOD.replace('direction = "north-south"', 'direction = "up"'),
            "line 17: [split] direction: must be one of west-east, east-west, north-south, "
            "south-north, got 'up'",
        ),
        (
            GOOD.replace('resampling = "bilinear"', 'resampling = "lanczos9"'),
            "line 6: [bands] resampling: must be one of nearest, bilinear, cubic, average",
        ),
        (
            GOOD.replace('name = "iburi"', 'name = "my area"'),
            "line 1: name: use ASCII letters, digits",
        ),
        (GOOD.replace('name = "iburi"', "name = 3"), "line 1: name: expected a string, got 3"),
        (GOOD.replace('path = "dem.tif"', "nodata = 0"), "line 8: [dem]: missing key 'path'"),
        (GOOD.replace('B3 = "b3.tif", ', ""), "[bands] files: must have one file per band"),
        (
            GOOD.replace('names = ["B2", "B3", "B4"]', 'names = ["B2", "B2", "B3"]'),
            "line 4: [bands] names: band names repeat",
        ),
        (
            GOOD.replace('names = ["B2", "B3", "B4"]', 'names = ["B2", "slope"]'),
            "'slope' is computed from [dem]",
        ),
        (GOOD + "\n[extra]\nx = 1\n", "extra: unknown key"),
        (GOOD.replace("[bands]", "[bands\n"), "invalid TOML"),
        (
            GOOD.replace(
                'files = { B2 = "b2.tif", B3 = "b3.tif", B4 = "/abs/b4.tif" }',
                'stack = "s.tif"\nproduct = "p.SAFE"',
            ),
            "give exactly one of 'files', 'stack' or 'product'",
        ),
        ('name = "a"\n', "missing table [bands]"),
        (
            GOOD.replace("all_touched = true", "all_touched = 1"),
            "line 13: [inventory] all_touched: expected true/false, got 1",
        ),
        (
            GOOD.replace("validation = 0.2", "validation = true"),
            "line 18: [split] validation: expected an integer or a number, got True",
        ),
    ],
)
def test_bad_area_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SlidemapError) as err:
        load_area_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_missing_and_binary_area_file(tmp_path: Path) -> None:
    with pytest.raises(SlidemapError, match="area file not found"):
        load_area_config(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SlidemapError, match="not a UTF-8 text file"):
        load_area_config(bad)


def test_documented_example_is_a_valid_area_file(tmp_path: Path) -> None:
    from slidemap.config import AREA_FILE_EXAMPLE

    cfg = load_area_config(write(tmp_path, AREA_FILE_EXAMPLE))
    assert cfg.bands.offset == -1000 and cfg.bands.crs == "EPSG:32654"
    assert cfg.aoi == tmp_path / "aoi.gpkg"
