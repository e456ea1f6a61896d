"""What a report author publishes: the HTML/PDF report, annotated figures, plots, exports."""
