"""Evaluation: metrics, and the image and speech comparisons against classic codecs."""
