"""Estimation: run the plan's estimators on the analysed data and compare their answers."""
