"""Segmentations to single-colour PNGs: what a segmentation file is, which values
are objects, label-safe resampling, instance separation, counts as Nutil and
PyNutil see them, the masks record and the consumers' settings."""
