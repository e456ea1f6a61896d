"""Clear-sky masks: the brightness rules, the trained cloud/shadow model, the analyst's mask,
and which one a capture gets (``rules`` and ``model`` pure array maths; ``choose`` reads the
source bands and the analyst's raster onto the grid)."""
