"""Change detection between two captures: co-registration, normalisation, detectors,
objects, zones."""
