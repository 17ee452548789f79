"""The registration series for QuickNII / VisuAlign / DeepSlice: reading
registration files, writing the small images, and the QuickNII XML."""
