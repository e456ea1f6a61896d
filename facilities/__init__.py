"""What and where to watch: the facility model, validation, grids and definition files."""
