"""The line-card agent process."""
