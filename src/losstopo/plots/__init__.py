"""Figures. Pure drawing: every number comes from cached artifacts."""
