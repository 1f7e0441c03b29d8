"""File formats: rasters, vectors, Sentinel-2 products, Landslide4Sense patches, atomic output."""
