"""The three synthetic study areas: one frozen profile per area.

Each profile is named after one of the paper's study areas (Ghorbanzadeh et
al. 2021) and borrows what matters for landslide mapping from it: the
inventory statistics (mean, minimum and maximum landslide area), the kind of
terrain, the land cover and the confounders, and a location (hence a UTM zone)
near the real place. Nothing else about the real places is reproduced; the
areas are synthetic and named "-like" to say so.

Spectra are surface reflectance in the order B2, B3, B4, B8 (blue, green, red,
near infrared), before illumination, atmosphere and sensor noise are applied.
"""

from __future__ import annotations

from dataclasses import dataclass

Spectrum = tuple[float, float, float, float]
"""Reflectance (0–1) in B2, B3, B4, B8."""

BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B8")


@dataclass(frozen=True)
class AreaSpec:
    """Everything that makes one synthetic area different from the others.

    Attributes:
        name: area name (also the output folder and the area file's ``name``).
        place: the real study area it imitates (for the area file's comment).
        epsg: EPSG code of the bands' UTM CRS (10 m grid).
        centre_lonlat: grid centre, degrees (WGS 84).
        dem_crs: CRS of the written DEM (differs from the bands' or its grid does).
        dem_res: DEM pixel size in ``dem_crs`` units (degrees or metres).
        inventory_epsg: CRS the inventory GeoPackage is written in.
        split_direction: ``[split] direction`` of the area file.
        acquired: sensing date written into the product metadata.
        elevation_min_m: lowest elevation (valley floor) in metres.
        median_slope_deg: median slope the terrain is scaled to (10 m grid).
        terrain_beta: spectral exponent of the terrain noise (larger: smoother).
        ridge_weight: weight of the ridged noise (sharp crests) in the terrain.
        relief_wavelength_px: the terrain noise is white beyond this wavelength, which
            sets the size of the hills (and so the relief for a given slope).
        floodplain_px: half-width of the flat valley floor along the main river.
        valley_wall_deg: angle of the valley walls cut by the rivers.
        channel_px: half-width of the water channel of the main river.
        tributaries: rivers joining the main one.
        mean_m2, min_m2, max_m2: landslide area statistics of the paper's inventory.
            Sizes are kept between ``max(min_m2, 4 pixels)`` (visible at 10 m) and
            ``min(max_m2, 12 × mean_m2)`` (a demo area is small).
        sigma: log-standard deviation of the lognormal landslide areas.
        fraction: share of the area covered by landslides.
        elongation: (min, max) length-to-width ratio of the landslides.
        min_slope_deg: landslides lie where their mean slope exceeds this.
        farm_share: share of the gentle land (slope < 8°) that is farmed.
        bare_share: share of the fields that are bare soil (the rest carry crops).
        gravel_share: share of the floodplain beside the channel that is gravel bars.
        settlements: villages (clusters of roofs) on gentle land near the river.
        mountain_roads: roads winding across the slopes (besides the valley road).
        rock_share: share of the area that is bare rock outcrop on high ridges.
        veg_a, veg_b: the two vegetation types mixed across the area.
        veg_b_uphill: how strongly type B prefers high ground (negative: low ground).
        crop, soil, scar, gravel, water, road, roof, rock: land-cover spectra; ``soil``
            is bare fields, ``scar`` fresh landslide scars.
        gain, offset: per-band residual atmosphere (reflectance = gain × r + offset).
        sun_elevation_deg, sun_azimuth_deg: illumination for topographic shading.
        noise_sd: sensor noise (reflectance units, per band).
        cloud_share: share of the area under cloud.
    """

    name: str
    place: str
    epsg: int
    centre_lonlat: tuple[float, float]
    dem_crs: str
    dem_res: float
    inventory_epsg: int
    split_direction: str
    acquired: str
    elevation_min_m: float
    median_slope_deg: float
    terrain_beta: float
    ridge_weight: float
    relief_wavelength_px: float
    floodplain_px: float
    valley_wall_deg: float
    channel_px: float
    tributaries: int
    mean_m2: float
    min_m2: float
    max_m2: float
    sigma: float
    fraction: float
    elongation: tuple[float, float]
    min_slope_deg: float
    farm_share: float
    bare_share: float
    gravel_share: float
    settlements: int
    mountain_roads: int
    rock_share: float
    veg_a: Spectrum
    veg_b: Spectrum
    veg_b_uphill: float
    crop: Spectrum
    soil: Spectrum
    scar: Spectrum
    gravel: Spectrum
    water: Spectrum
    road: Spectrum
    roof: Spectrum
    rock: Spectrum
    gain: Spectrum
    offset: Spectrum
    sun_elevation_deg: float
    sun_azimuth_deg: float
    noise_sd: float
    cloud_share: float


#: Typhoon-triggered landslides in steep, densely forested mountains with wide
#: braided gravel riverbeds (Western Taitung County, 2009 Typhoon Morakot).
TAIWAN = AreaSpec(
    name="taiwan-like",
    place="Western Taitung County, Taiwan (typhoon Morakot, 2009)",
    epsg=32651,
    centre_lonlat=(120.93, 22.98),
    dem_crs="EPSG:4326",
    dem_res=1.0 / 3600.0,
    inventory_epsg=3826,
    split_direction="west-east",
    acquired="2022-07-20",
    elevation_min_m=320.0,
    median_slope_deg=30.0,
    terrain_beta=4.0,
    ridge_weight=1.0,
    relief_wavelength_px=300.0,
    floodplain_px=16.0,
    valley_wall_deg=32.0,
    channel_px=2.5,
    tributaries=2,
    mean_m2=34_359.85,
    min_m2=1_282.28,
    max_m2=1_455_022.72,
    sigma=0.9,
    fraction=0.05,
    elongation=(1.6, 3.0),
    min_slope_deg=32.0,
    farm_share=0.25,
    bare_share=0.3,
    gravel_share=0.65,
    settlements=2,
    mountain_roads=2,
    rock_share=0.0,
    veg_a=(0.024, 0.048, 0.028, 0.36),
    veg_b=(0.030, 0.062, 0.038, 0.42),
    veg_b_uphill=-1.0,
    crop=(0.040, 0.080, 0.050, 0.40),
    soil=(0.100, 0.120, 0.140, 0.21),
    scar=(0.110, 0.130, 0.150, 0.22),
    gravel=(0.120, 0.135, 0.150, 0.19),
    water=(0.060, 0.080, 0.070, 0.04),
    road=(0.090, 0.100, 0.110, 0.14),
    roof=(0.130, 0.140, 0.150, 0.18),
    rock=(0.150, 0.170, 0.190, 0.25),
    gain=(1.00, 1.00, 1.00, 0.95),
    offset=(0.020, 0.012, 0.006, 0.000),
    sun_elevation_deg=68.0,
    sun_azimuth_deg=95.0,
    noise_sd=0.004,
    cloud_share=0.03,
)

#: Earthquake-triggered landslides and rockfalls in a high, steep limestone
#: valley with conifer forest and alpine meadows (Shuzheng Valley, Jiuzhaigou 2017).
CHINA = AreaSpec(
    name="china-like",
    place="Shuzheng Valley, Jiuzhaigou, China (Mw 7.0 earthquake, 2017)",
    epsg=32648,
    centre_lonlat=(103.91, 33.21),
    dem_crs="EPSG:32648",
    dem_res=30.0,
    inventory_epsg=4326,
    split_direction="north-south",
    acquired="2022-07-14",
    elevation_min_m=1980.0,
    median_slope_deg=34.0,
    terrain_beta=3.8,
    ridge_weight=1.3,
    relief_wavelength_px=400.0,
    floodplain_px=5.0,
    valley_wall_deg=38.0,
    channel_px=1.5,
    tributaries=3,
    mean_m2=11_571.6,
    min_m2=1_147.51,
    max_m2=130_641.49,
    sigma=0.8,
    fraction=0.04,
    elongation=(1.8, 3.5),
    min_slope_deg=36.0,
    farm_share=0.1,
    bare_share=0.4,
    gravel_share=0.3,
    settlements=1,
    mountain_roads=1,
    rock_share=0.012,
    veg_a=(0.020, 0.040, 0.025, 0.25),
    veg_b=(0.045, 0.075, 0.072, 0.27),
    veg_b_uphill=1.5,
    crop=(0.040, 0.075, 0.050, 0.36),
    soil=(0.140, 0.160, 0.180, 0.24),
    scar=(0.160, 0.180, 0.200, 0.26),
    gravel=(0.170, 0.185, 0.200, 0.23),
    water=(0.030, 0.060, 0.040, 0.02),
    road=(0.100, 0.110, 0.120, 0.15),
    roof=(0.150, 0.150, 0.160, 0.19),
    rock=(0.170, 0.190, 0.210, 0.26),
    gain=(1.08, 1.06, 1.05, 1.00),
    offset=(-0.005, 0.000, 0.000, 0.000),
    sun_elevation_deg=72.0,
    sun_azimuth_deg=115.0,
    noise_sd=0.003,
    cloud_share=0.02,
)

#: Earthquake-triggered shallow landslides in rain-soaked pumice on gentle
#: forested hills between farmed valleys (Eastern Iburi, Hokkaido 2018).
JAPAN = AreaSpec(
    name="japan-like",
    place="Eastern Iburi, Hokkaido, Japan (Mw 6.6 earthquake, 2018)",
    epsg=32654,
    centre_lonlat=(141.98, 42.76),
    dem_crs="EPSG:4326",
    dem_res=1.0 / 3600.0,
    inventory_epsg=6668,
    split_direction="west-east",
    acquired="2022-08-06",
    elevation_min_m=60.0,
    median_slope_deg=15.0,
    terrain_beta=4.2,
    ridge_weight=0.5,
    relief_wavelength_px=150.0,
    floodplain_px=10.0,
    valley_wall_deg=20.0,
    channel_px=1.2,
    tributaries=3,
    mean_m2=8_688.8,
    min_m2=89.6,
    max_m2=569_904.02,
    sigma=0.9,
    fraction=0.07,
    elongation=(1.5, 2.8),
    min_slope_deg=20.0,
    farm_share=0.8,
    bare_share=0.4,
    gravel_share=0.15,
    settlements=3,
    mountain_roads=2,
    rock_share=0.0,
    veg_a=(0.028, 0.058, 0.034, 0.44),
    veg_b=(0.024, 0.050, 0.030, 0.36),
    veg_b_uphill=0.0,
    crop=(0.040, 0.085, 0.050, 0.46),
    soil=(0.070, 0.095, 0.115, 0.23),
    scar=(0.075, 0.100, 0.125, 0.245),
    gravel=(0.100, 0.115, 0.130, 0.18),
    water=(0.040, 0.055, 0.040, 0.02),
    road=(0.085, 0.095, 0.105, 0.13),
    roof=(0.120, 0.125, 0.135, 0.17),
    rock=(0.120, 0.140, 0.160, 0.22),
    gain=(0.95, 0.97, 1.00, 1.05),
    offset=(0.010, 0.008, 0.004, 0.010),
    sun_elevation_deg=58.0,
    sun_azimuth_deg=140.0,
    noise_sd=0.004,
    cloud_share=0.03,
)

SPECS: dict[str, AreaSpec] = {s.name: s for s in (TAIWAN, CHINA, JAPAN)}
AREAS: tuple[str, ...] = tuple(SPECS)
