"""The small text files written beside a synthetic area's rasters.

* ``MTD_MSIL2A.xml``: the radiometric part of a Sentinel-2 Level-2A product's
  metadata, in the real product's structure (``n1:Level-2A_User_Product`` /
  ``n1:General_Info`` / ``Product_Info`` and ``Product_Image_Characteristics``):
  processing baseline 04.00, quantification 10000 and ``BOA_ADD_OFFSET`` −1000
  for each of the 13 bands, so ``slidemap prepare`` takes the same scaling path
  as for a downloaded product;
* ``area.toml``: the area file ``slidemap prepare`` reads, marked synthetic.
"""

from __future__ import annotations

from slidemap import __version__
from slidemap.config import S2_BANDS
from slidemap.synth.areas import BANDS, AreaSpec
from slidemap.synth.spectra import BOA_ADD_OFFSET, QUANTIFICATION

_RESOLUTION_M = {"B1": 60, "B5": 20, "B6": 20, "B7": 20, "B8A": 20, "B9": 60, "B10": 60}
_NAMESPACE = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd"


def mtd_msil2a(spec: AreaSpec, seed: int) -> str:
    """``MTD_MSIL2A.xml`` text for the synthetic product of ``spec``."""
    date = spec.acquired.replace("-", "")
    product = f"S2A_MSIL2A_{date}T020000_N0400_SYNTHETIC_{spec.name}_seed{seed}.SAFE"
    offsets = "\n".join(
        f'        <BOA_ADD_OFFSET band_id="{i}">{BOA_ADD_OFFSET:.0f}</BOA_ADD_OFFSET>'
        for i in range(len(S2_BANDS))
    )
    spectral = "\n".join(
        f'        <Spectral_Information bandId="{i}" physicalBand="{band}">'
        f"<RESOLUTION>{_RESOLUTION_M.get(band, 10)}</RESOLUTION></Spectral_Information>"
        for i, band in enumerate(S2_BANDS)
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!-- SYNTHETIC product metadata written by slidemap {__version__} (slidemap synth): not a
     real Sentinel-2 product. It keeps the radiometric elements of a real Level-2A
     MTD_MSIL2A.xml: reflectance = (DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE. -->
<n1:Level-2A_User_Product xmlns:n1="{_NAMESPACE}">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>{spec.acquired}T02:00:00.000Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>{spec.acquired}T02:00:00.000Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{product}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>
      <Datatake datatakeIdentifier="SYNTHETIC">
        <SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>{spec.acquired}T02:00:00.000Z</DATATAKE_SENSING_START>
      </Datatake>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">{QUANTIFICATION:.0f}</BOA_QUANTIFICATION_VALUE>
        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
        <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      <BOA_ADD_OFFSET_VALUES_LIST>
{offsets}
      </BOA_ADD_OFFSET_VALUES_LIST>
      <Spectral_Information_List>
{spectral}
      </Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""


def area_toml(spec: AreaSpec, seed: int, scale: float) -> str:
    """The area file of a synthetic area; paths relative to its folder."""
    files = ", ".join(f'{b} = "{b}.tif"' for b in BANDS)
    names = ", ".join(f'"{b}"' for b in BANDS)
    return f"""\
# SYNTHETIC study area written by `slidemap synth --seed {seed} --scale {scale:g}`
# (slidemap {__version__}). Not real data: terrain, land cover, landslides and
# Sentinel-2 L2A digital numbers are simulated to resemble
#   {spec.place}.
# Prepare it with:  slidemap prepare area.toml --out <prepared-dir>
name = "{spec.name}"
synthetic = true

[bands]
names = [{names}]
files = {{ {files} }}
metadata = "MTD_MSIL2A.xml"        # processing baseline 04.00: BOA_ADD_OFFSET = -1000

[dem]
path = "dem.tif"                   # {spec.dem_crs}, reprojected onto the 10 m band grid

[inventory]
path = "landslides.gpkg"           # EPSG:{spec.inventory_epsg}
layer = "landslides"

[split]
fraction = 0.6
direction = "{spec.split_direction}"
"""
