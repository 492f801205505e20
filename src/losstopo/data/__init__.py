"""Datasets for the paper's experiments: the Oxford-IIIT Pet loader and a synthetic stand-in."""
