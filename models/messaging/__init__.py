"""Direct messages, notifications and presence."""
