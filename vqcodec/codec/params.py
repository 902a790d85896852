"""The media parameters a stream header carries, typed, with every limit checked in one place.

    image: width height channels            audio: rate channels stages chunk_frames

`validate()` raises BadStreamError for values no encoder writes and LimitError for values over a
configured limit, before anything is allocated. The CLI's defaults for the limits are these
constants too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import BadStreamError, LimitError

DEFAULT_MAX_PIXELS = 100_000_000  # guards work (minutes on a CPU); memory no longer grows with it
DEFAULT_MAX_SECONDS = 24 * 3600.0
MIN_RATE, MAX_RATE = 1000, 768_000
MAX_CHANNELS = 64
MAX_CHUNK_FRAMES = 3000


@dataclass(frozen=True)
class ImageParams:
    width: int
    height: int
    channels: int  # 1 (grey) or 3 (RGB): the channel count to restore

    def validate(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> "ImageParams":
        if self.width < 1 or self.height < 1 or self.channels not in (1, 3):
            raise BadStreamError(f"malformed stream: image {self.width}x{self.height}x{self.channels}")
        if self.width * self.height > max_pixels:
            raise LimitError(f"stream claims {self.width}x{self.height} pixels, over the limit of "
                             f"{max_pixels} (raise it with --max-pixels)")
        return self

    def values(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)


@dataclass(frozen=True)
class AudioParams:
    rate: int  # the input's sample rate, restored on output
    channels: int
    stages: int  # residual VQ stages coded per frame
    chunk_frames: int  # latent frames per record (the last record may hold fewer)

    def validate(self, model_stages: int | None = None) -> "AudioParams":
        """Check the header's values; with `model_stages`, also that the model can decode them."""
        if not (MIN_RATE <= self.rate <= MAX_RATE and 1 <= self.channels <= MAX_CHANNELS
                and 1 <= self.stages and 1 <= self.chunk_frames <= MAX_CHUNK_FRAMES):
            raise BadStreamError(f"malformed stream: audio parameters {self.values()} are invalid")
        if model_stages is not None and self.stages > model_stages:
            raise BadStreamError(f"malformed stream: {self.stages} stages, but the model has "
                                 f"{model_stages}")
        return self

    def max_records(self, frame_rate: float, max_seconds: float) -> int:
        """How many records a stream of at most `max_seconds` can hold."""
        return int(max_seconds * frame_rate) // self.chunk_frames + 1

    def values(self) -> tuple[int, ...]:
        return dataclasses.astuple(self)
