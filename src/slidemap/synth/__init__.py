"""Synthetic study areas, written through the same files a user brings.

Three areas named after the paper's (``taiwan-like``, ``china-like``,
``japan-like``) with Sentinel-2 L2A-style bands, a DEM in another CRS, a
landslide inventory GeoPackage and an area file each; ``slidemap prepare``
reads them unchanged. They are clearly synthetic: "-like" names,
``synthetic = true`` in the area file, ``SYNTHETIC=yes`` raster tags.

Modules, in the order a scene is made: :mod:`~slidemap.synth.areas` (one
profile per area), :mod:`~slidemap.synth.noise`, :mod:`~slidemap.synth.terrain`,
:mod:`~slidemap.synth.landcover`, :mod:`~slidemap.synth.landslides`,
:mod:`~slidemap.synth.spectra`, :mod:`~slidemap.synth.scene`, then
:mod:`~slidemap.synth.writer` (with :mod:`~slidemap.synth.product` and
:mod:`~slidemap.synth.quicklook`).

Example::

    from slidemap.synth import synthesize
    area_files = synthesize(Path("synthetic"), seed=0, scale=0.5)
"""

from slidemap.synth.areas import AREAS
from slidemap.synth.writer import synthesize

__all__ = ["AREAS", "synthesize"]
