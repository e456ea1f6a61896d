"""What a report author publishes: the HTML/PDF baseline report, annotated figures, plots, exports."""
