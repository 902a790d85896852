"""Inference without torch: the networks of a model file run in numpy.

The torch modules (vqcodec.nets) stay the definition used for training; this package only
runs trained weights forward, so `compress` and `decompress` start without importing torch.
Both sides build their layer order from the same description (`arch`), and tests compare
the two numerically.
"""
