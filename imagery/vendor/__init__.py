"""Commercial deliveries: vendor metadata sidecars (Maxar, Airbus, Planet) beside a raster."""
