"""The offline before/after map viewer: inputs from the catalogue, XYZ tiles, the static page."""
