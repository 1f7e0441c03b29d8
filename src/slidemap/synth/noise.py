"""Spectral (power-law) noise fields and small shaping helpers.

Every synthetic layer (terrain, vegetation mix, fields, clouds, texture)
starts from :func:`fractal_noise`: white noise filtered in the Fourier domain
so that its power spectrum falls as ``|k| ** -beta``. ``beta`` ≈ 3 gives
terrain-like surfaces (large hills, little pixel-scale roughness), ``beta`` ≈ 1
gives fine texture.
"""

from __future__ import annotations

import numpy as np


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    min_wavelength_px: float = 0.0,
    max_wavelength_px: float = np.inf,
) -> np.ndarray:
    """A zero-mean, unit-variance field with power spectrum ∝ ``|k| ** -beta``.

    Args:
        rng: the random stream (consumed: ``H * W`` normal draws).
        shape: ``(H, W)`` in pixels.
        beta: spectral exponent; larger is smoother.
        min_wavelength_px: wavelengths shorter than this are damped (Gaussian
            roll-off), as hillslope processes smooth real terrain below ~100 m.
        max_wavelength_px: the spectrum is flat (white) at wavelengths longer than
            this, so the relief does not grow with the size of the grid.

    Returns:
        (H, W) float64. The field is periodic (it wraps around the edges).
    """
    height, width = shape
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    ky = np.fft.fftfreq(height)[:, None]
    kx = np.fft.rfftfreq(width)[None, :]
    k = np.hypot(ky, kx)
    k_flat = np.maximum(k, 1.0 / max_wavelength_px)
    k_flat[0, 0] = 1.0  # the mean is removed below
    spectrum *= k_flat ** (-beta / 2.0)
    if min_wavelength_px > 0:
        spectrum *= np.exp(-((k * min_wavelength_px) ** 2))
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=shape)
    return (field - field.mean()) / field.std()


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Hermite step: 0 below 0, 1 above 1, smooth (C¹) in between; same shape as ``x``."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-x))
