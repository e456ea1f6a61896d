"""What happened over time: timeline, events (persistent changes), review, demo validation."""
