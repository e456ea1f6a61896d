"""The simulated capture archive of the demo: scene, schedule, spectra, rendering, ground truth."""
