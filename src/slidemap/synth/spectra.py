"""From land cover to Sentinel-2 L2A digital numbers.

The steps, in the order light takes them:

1. surface reflectance per pixel from the land-cover spectra of the area
   (:class:`~slidemap.synth.areas.AreaSpec`), mixed with vegetation where
   cover is partial, with per-object brightness and canopy texture;
2. topographic illumination from the DEM and the sun position (shaded slopes
   are darker, sunlit ones brighter; diffuse sky light keeps shadows from going
   black);
3. the residual atmosphere of the area: a gain and an offset per band;
4. clouds (bright, with soft fractal edges) and their shadows on the ground;
5. the sensor: a slight blur (point-spread function) and Gaussian noise;
6. encoding as L2A digital numbers from processing baseline 04.00 on:
   ``DN = reflectance × 10000 + 1000`` (``BOA_ADD_OFFSET`` = −1000), DN 0 = nodata.

Arrays are band-first ``(4, H, W)`` in the order B2, B3, B4, B8.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from slidemap.synth.areas import AreaSpec
from slidemap.synth.landcover import (
    BARE_FIELD,
    CROP,
    GRAVEL,
    ROAD,
    ROCK,
    ROOF,
    SCAR,
    WATER,
    LandCover,
)
from slidemap.synth.noise import fractal_noise

QUANTIFICATION = 10000.0
BOA_ADD_OFFSET = -1000.0
_DIFFUSE = 0.25  # share of sky light that reaches shaded slopes
_PSF_SIGMA_PX = 0.5  # Sentinel-2 10 m bands are slightly soft


def surface_reflectance(spec: AreaSpec, land: LandCover, rng: np.random.Generator) -> np.ndarray:
    """Reflectance of the ground, before illumination and atmosphere; (4, H, W) float64."""
    shape = land.cover.shape
    veg_a = np.asarray(spec.veg_a)[:, None, None]
    veg_b = np.asarray(spec.veg_b)[:, None, None]
    canopy = 1.0 + 0.12 * fractal_noise(rng, shape, 1.2)
    vegetation = ((1.0 - land.veg_mix) * veg_a + land.veg_mix * veg_b) * canopy
    table = {
        WATER: spec.water,
        GRAVEL: spec.gravel,
        BARE_FIELD: spec.soil,
        CROP: spec.crop,
        ROAD: spec.road,
        ROOF: spec.roof,
        ROCK: spec.rock,
        SCAR: spec.scar,
    }
    ground = vegetation.copy()
    grain = 1.0 + 0.06 * fractal_noise(rng, shape, 0.8)  # soil and rock texture
    for code, spectrum in table.items():
        where = land.cover == code
        if not where.any():
            continue
        bare = np.asarray(spectrum)[:, None] * (land.brightness[where] * grain[where])
        share = land.veg_share[where]
        ground[:, where] = share * vegetation[:, where] + (1.0 - share) * bare
    return ground


def illumination(
    dem_m: np.ndarray, res_m: float, sun_elevation_deg: float, sun_azimuth_deg: float
) -> np.ndarray:
    """Relative irradiance of each pixel (1 on flat ground); (H, W) float64.

    The cosine of the local solar incidence angle from the DEM's normal, mixed
    with a diffuse share, relative to flat ground.
    """
    d_row, d_col = np.gradient(dem_m, res_m)
    zenith = np.radians(90.0 - sun_elevation_deg)
    azimuth = np.radians(sun_azimuth_deg)
    # sun vector in (east, north, up); rows run south, so north = -d_row
    sun = np.array(
        [np.sin(zenith) * np.sin(azimuth), np.sin(zenith) * np.cos(azimuth), np.cos(zenith)]
    )
    normal = np.stack([-d_col, d_row, np.ones_like(dem_m)])
    normal /= np.linalg.norm(normal, axis=0)
    cos_i = np.clip(np.tensordot(sun, normal, axes=1), 0.0, None)
    return (_DIFFUSE + (1.0 - _DIFFUSE) * cos_i) / (_DIFFUSE + (1.0 - _DIFFUSE) * sun[2])


def clouds(
    rng: np.random.Generator, shape: tuple[int, int], share: float, sun_azimuth_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity and cloud-shadow darkening; each (H, W) float64 in [0, 1].

    The cloud covers about ``share`` of the grid in one or two soft patches;
    its shadow is the same shape displaced away from the sun.
    """
    field = fractal_noise(rng, shape, 3.2)
    envelope = np.exp(-(_distance_to(rng, shape) ** 2) / (2 * (0.12 * min(shape)) ** 2))
    score = field + 3.0 * envelope
    edge = np.quantile(score, 1.0 - share)
    opacity = np.clip((score - edge) / 0.5, 0.0, 1.0)  # thin at the edges, thick inside
    shift = 0.04 * min(shape)
    azimuth = np.radians(sun_azimuth_deg)
    shadow = ndimage.shift(opacity, (shift * np.cos(azimuth), -shift * np.sin(azimuth)), order=1)
    return opacity, np.clip(shadow, 0.0, 1.0)


def observe(
    spec: AreaSpec,
    ground: np.ndarray,
    dem_m: np.ndarray,
    res_m: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """What the satellite records as L2A reflectance; (4, H, W) float64.

    Illumination, residual atmosphere, clouds and shadows, blur and noise.
    """
    light = illumination(dem_m, res_m, spec.sun_elevation_deg, spec.sun_azimuth_deg)
    opacity, shadow = clouds(rng, dem_m.shape, spec.cloud_share, spec.sun_azimuth_deg)
    gain = np.asarray(spec.gain)[:, None, None]
    offset = np.asarray(spec.offset)[:, None, None]
    white = np.array([0.42, 0.44, 0.46, 0.50])[:, None, None]
    top = ground * light * (1.0 - 0.65 * shadow)
    top = gain * top + offset
    cloud = white * (1.0 + 0.08 * fractal_noise(rng, dem_m.shape, 2.5))
    top = (1.0 - opacity) * top + opacity * cloud
    top = ndimage.gaussian_filter(top, (0.0, _PSF_SIGMA_PX, _PSF_SIGMA_PX))
    return top + rng.normal(0.0, spec.noise_sd, top.shape)


def to_dn(reflectance: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Encode reflectance as L2A digital numbers (baseline ≥ 04.00); (4, H, W) uint16.

    Args:
        reflectance: (4, H, W) reflectance, may be slightly negative (dark water + noise).
        nodata: (H, W) bool, pixels without data (DN 0).
    """
    dn = np.rint(reflectance * QUANTIFICATION - BOA_ADD_OFFSET)
    dn = np.clip(dn, 1, 65534).astype(np.uint16)  # 0 = nodata, 65535 = saturated
    dn[:, nodata] = 0
    return dn


def _distance_to(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Distance (px) from a random point away from the edges; (H, W)."""
    height, width = shape
    r0, c0 = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
    rows, cols = np.indices(shape)
    return np.hypot(rows - r0, cols - c0)
