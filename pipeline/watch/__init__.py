"""Scheduled monitoring: the watch configuration, one watch pass, alerts and their delivery."""
