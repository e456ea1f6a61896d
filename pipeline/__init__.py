"""What happened: change detection, timeline, reports and exports, the run loop, the CLI."""
