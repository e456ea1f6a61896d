"""Cloud and cloud-shadow masks: the trained model, the analyst's mask, and which one a capture
gets (``model`` pure array maths around the ONNX model; ``choose`` reads the source bands and
the analyst's raster onto the grid)."""
