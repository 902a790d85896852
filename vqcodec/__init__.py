"""vqcodec: neural compression of images and low-bitrate speech.

    >>> import vqcodec
    >>> blob = vqcodec.compress("photo.png")      # bundled image model
    >>> pixels = vqcodec.decompress(blob)         # (H, W, 3) uint8
    >>> blob = vqcodec.compress(wave, rate=16000) # bundled speech model
    >>> wave, rate = vqcodec.decompress(blob)

Importing the package is cheap, and compressing or decompressing never imports torch: the
networks run in numpy (vqcodec.runtime).
"""

__version__ = "0.1.0"
__all__ = ["compress", "decompress", "__version__"]


def __getattr__(name: str):
    if name in ("compress", "decompress"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)
