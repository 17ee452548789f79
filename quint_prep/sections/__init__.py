"""Sections from whole slides: tissue detection, the section plan
``sections.csv`` (and its page), and the plan as the sources of a series."""
