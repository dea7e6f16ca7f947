"""The data a run analyses: read and snapshot the source, validate roles, check quality."""
