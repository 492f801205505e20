"""Figures. Pure drawing: every number comes from cached artifacts."""

import matplotlib

matplotlib.use("Agg")
