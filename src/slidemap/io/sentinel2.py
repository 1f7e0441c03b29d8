"""Sentinel-2 products: band files in a SAFE tree or zip, and radiometric scaling.

Digital numbers (DN) of L1C and L2A products become reflectance as
``(DN + offset) / quantification``, with ``quantification = 10000`` and
``offset = -1000`` from processing baseline 04.00 on (0 before). Both are read
from ``MTD_MSIL1C.xml`` (``QUANTIFICATION_VALUE``, ``RADIO_ADD_OFFSET``) or
``MTD_MSIL2A.xml`` (``BOA_QUANTIFICATION_VALUE``, ``BOA_ADD_OFFSET``).
DN 0 is the products' nodata.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from slidemap.config import S2_BANDS
from slidemap.errors import SlidemapError

#: ``band_id`` attribute in the metadata → band name.
BAND_IDS = dict(enumerate(S2_BANDS))
_BAND_FILE = re.compile(r"_(B(?:0?[1-9]|1[0-2]|8A))(?:_(10|20|60)m)?\.jp2$", re.IGNORECASE)


@dataclass(frozen=True)
class Radiometry:
    """Scaling read from product metadata (or the defaults for a baseline)."""

    baseline: str | None
    quantification: float = 10000.0
    offsets: dict[str, float] = field(default_factory=dict)

    def offset(self, band: str) -> float:
        """DN offset for ``band``: from the metadata, else by processing baseline."""
        if band in self.offsets:
            return self.offsets[band]
        return -1000.0 if self.baseline is not None and float(self.baseline) >= 4.0 else 0.0


def band_name(text: str) -> str:
    """Normalise ``B02``/``b8a`` → ``B2``/``B8A``."""
    name = text.upper()
    return "B" + name[1:].lstrip("0") if name != "B8A" else name


def read_metadata(path: Path) -> Radiometry:
    """Parse an ``MTD_MSIL1C.xml`` or ``MTD_MSIL2A.xml`` file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SlidemapError(f"cannot read Sentinel-2 metadata {path}: {exc.strerror}") from exc
    return parse_metadata(data, str(path))


def parse_metadata(data: bytes, source: str) -> Radiometry:
    """Parse product metadata XML bytes; ``source`` names it in errors."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SlidemapError(f"Sentinel-2 metadata {source} is not valid XML ({exc})") from exc
    baseline = None
    quant = 10000.0
    offsets: dict[str, float] = {}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        text = (el.text or "").strip()
        try:
            if tag == "PROCESSING_BASELINE":
                float(text)  # "04.00": decides the offset when the metadata lists none
                baseline = text
            elif tag in ("QUANTIFICATION_VALUE", "BOA_QUANTIFICATION_VALUE"):
                quant = float(text)
            elif tag in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET"):
                offsets[BAND_IDS[int(el.attrib["band_id"])]] = float(text)
        except (ValueError, KeyError) as exc:
            raise SlidemapError(f"Sentinel-2 metadata {source}: bad {tag} value {text!r}") from exc
    if quant <= 0:
        raise SlidemapError(f"Sentinel-2 metadata {source}: quantification value {quant} <= 0")
    return Radiometry(baseline=baseline, quantification=quant, offsets=offsets)


@dataclass(frozen=True)
class Product:
    """A Sentinel-2 product opened from a ``.SAFE`` directory or its ``.zip``.

    ``bands`` maps band name → GDAL path of its finest-resolution JP2 file.
    """

    path: Path
    bands: dict[str, str]
    radiometry: Radiometry


def open_product(path: Path) -> Product:
    """Find band files and metadata in a SAFE directory or zip.

    Raises:
        SlidemapError: not a SAFE directory/zip, no band files, no metadata.
    """
    path = Path(path)
    if not path.exists():
        raise SlidemapError(f"Sentinel-2 product not found: {path}")
    if path.is_dir():
        names = [str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()]
        prefix = str(path) + "/"

        def read(name: str) -> bytes:
            return (path / name).read_bytes()

    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
        prefix = f"/vsizip/{path}/"

        def read(name: str) -> bytes:
            with zipfile.ZipFile(path) as zf:
                return zf.read(name)

    else:
        raise SlidemapError(f"{path} is neither a .SAFE directory nor a zip of one")
    found: dict[str, tuple[int, str]] = {}
    for name in names:
        if "IMG_DATA" not in name:
            continue
        m = _BAND_FILE.search(name)
        if not m:
            continue
        band = band_name(m.group(1))
        res = int(m.group(2) or 0)
        if band not in found or res < found[band][0]:
            found[band] = (res, prefix + name)
    if not found:
        raise SlidemapError(
            f"no band files (IMG_DATA/*_B??.jp2) found in Sentinel-2 product {path}"
        )
    mtd = [n for n in names if re.search(r"(^|/)MTD_MSIL(1C|2A)\.xml$", n)]
    if not mtd:
        raise SlidemapError(
            f"no MTD_MSIL1C.xml or MTD_MSIL2A.xml in Sentinel-2 product {path}; "
            "without it the radiometric offset is unknown"
        )
    radiometry = parse_metadata(read(mtd[0]), f"{path}:{mtd[0]}")
    return Product(path=path, bands={b: p for b, (_, p) in found.items()}, radiometry=radiometry)
