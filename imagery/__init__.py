"""Getting pixels onto a facility's grid: providers, capture catalogue, masks, warping."""
