"""quint-prep: prepare histology section series for the QUINT workflow."""

__version__ = "0.1.0"
