"""Inference without torch: the networks of a model file run in numpy.

The torch modules (vqcodec.networks) stay the definition used for training; this package
only runs trained weights forward, so `compress` and `decompress` start without importing
torch. Both sides take their layer order from the same lists (`networks.arch`), and
tests/test_runtime.py compares the two numerically.
"""
