"""The speed benchmark runs end to end and reports consistent numbers."""

import pytest

from vqcodec.tools import bench_speed

pytestmark = pytest.mark.slow  # training / benchmark runs


def test_bench_images_reports_sizes_and_speeds(image_model):
    rows = bench_speed.bench_images(str(image_model), sizes=((64, 96),), repeat=1)
    (row,) = rows
    assert row["size"] == "96x64"
    assert row["compress_s"] > 0 and row["decompress_s"] > 0
    import vqcodec

    real = vqcodec.compress(bench_speed._photo(64, 96), model=str(image_model))
    assert row["bytes"] == len(real)  # the real stream size, not a formula of its own
    assert 0 < row["bpp"] < 8
    assert row["prior_positions_per_s"] > 0


def test_bench_speech_reports_real_time_factors(speech_model):
    res = bench_speed.bench_speech(str(speech_model), seconds=1.0)
    assert res["encode_rtf"] > 0 and res["decode_rtf"] > 0 and res["bits_per_second"] > 0
