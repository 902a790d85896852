"""vqcodec.compress on arrays: one rule for shapes and dtypes (vqcodec.arrays), in-process."""

import numpy as np
import pytest

import vqcodec
from conftest import make_speechlike
from vqcodec.errors import BadInputError, UsageError


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_grey_uint8_array_round_trips_as_grey(image_model):
    grey = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) % 251).astype(np.uint8)
    out = vqcodec.decompress(vqcodec.compress(grey, model=str(image_model)), model=str(image_model))
    assert out.shape == (48, 64) and out.dtype == np.uint8


def test_int16_pcm_is_scaled_by_its_dtype(speech_model):
    wave = make_speechlike(1.0, 16000, seed=1)
    as_float = vqcodec.decompress(vqcodec.compress(wave, str(speech_model), rate=16000),
                                  str(speech_model))[0]
    pcm = np.round(wave * 32767).astype(np.int16)
    as_int = vqcodec.decompress(vqcodec.compress(pcm, str(speech_model), rate=16000),
                                str(speech_model))[0]
    assert abs(_rms(as_int) - _rms(as_float)) < 0.1 * _rms(as_float)


def test_float_waveform_outside_unit_range_is_refused(speech_model):
    with pytest.raises(BadInputError, match=r"outside \[-1, 1\]"):
        vqcodec.compress(np.full(1600, 3.0, np.float32), str(speech_model), rate=16000)


@pytest.mark.parametrize("rate, channels, message", [
    (100, 1, r"sample rate 100 is not supported \(1000\.\.768000\)"),
    (16000, 70, r"70 channels are not supported \(1\.\.64\)"),
])
def test_a_waveform_of_an_unsupported_rate_or_channel_count_is_bad_input(speech_model, rate, channels,
                                                                          message):
    with pytest.raises(BadInputError, match=message):
        vqcodec.compress(np.zeros((1000, channels), np.float32), str(speech_model), rate=rate)


@pytest.mark.parametrize("stages", [0, 0.5, 3])
def test_a_stage_count_outside_the_model_is_refused_not_replaced(speech_model, stages):
    """stages=0 is not "the default" (None is): the same error as any count outside 1..S."""
    with pytest.raises(UsageError, match="stages must be between 1 and 2"):
        vqcodec.compress(make_speechlike(0.5, 16000, seed=2), str(speech_model), rate=16000,
                         stages=stages)


def test_rgba_array_follows_the_alpha_rule(image_model):
    rgba = np.zeros((32, 40, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent: composited onto white
    out = vqcodec.decompress(vqcodec.compress(rgba, model=str(image_model)), model=str(image_model))
    assert out.shape == (32, 40, 3)


def test_float_image_in_unit_range_is_accepted(image_model):
    img = np.random.default_rng(0).random((32, 32, 3))
    out = vqcodec.decompress(vqcodec.compress(img, model=str(image_model)), model=str(image_model))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_ambiguous_arrays_are_refused_with_the_accepted_shapes():
    with pytest.raises(UsageError, match=r"\(H, W\)"):
        vqcodec.compress(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(UsageError, match="rate="):
        vqcodec.compress(np.zeros(1000, np.float32))


def test_bytes_of_audio_are_told_from_images_by_content(speech_model, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "talk.bin", make_speechlike(0.5, 16000, seed=2), 16000, format="FLAC")
    blob = vqcodec.compress(tmp_path / "talk.bin", model=str(speech_model))
    wave, rate = vqcodec.decompress(blob, model=str(speech_model))
    assert rate == 16000 and len(wave) == 8000
