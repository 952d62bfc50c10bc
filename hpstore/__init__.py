"""hpstore."""
