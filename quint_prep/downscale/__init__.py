"""Downscaling a series with one factor: settings and plan, the per-image
pipeline (open, shrink, bring to 8 bits), series intensity windows, the
colour model, and the batch that writes the series."""
