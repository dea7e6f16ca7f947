"""Identification: which strategies the graph licenses (back-door, front-door, IV, RD) and their sets."""
