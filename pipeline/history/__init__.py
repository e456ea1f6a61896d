"""What happened over time: the timeline, events (persistent changes), analyst review, demo validation."""
