"""STAC APIs: providers, search, items, band maps, radiometry, QA masks, windowed reads, fetch."""
