"""slidemap: landslide mapping from Sentinel-2 and a DEM (Ghorbanzadeh et al. 2021)."""

__version__ = "0.1.0"
