"""The speed benchmark runs end to end and reports consistent numbers."""

import pytest

from vqcodec.tools import bench_speed

pytestmark = pytest.mark.slow  # training / benchmark runs


def test_bench_images_reports_sizes_and_speeds(image_model):
    rows = bench_speed.bench_images(str(image_model), sizes=((64, 96),), repeat=1)
    (row,) = rows
    assert row["size"] == "96x64"
    assert row["compress_s"] > 0 and row["decompress_s"] > 0 and row["compress_without_colour_map_s"] > 0
    import vqcodec

    real = vqcodec.compress(bench_speed._photo(64, 96), model=str(image_model))
    assert row["bytes"] == len(real)  # the real stream size, not a formula of its own
    assert 0 < row["bpp"] < 8
    assert row["prior_positions_per_s"] > 0
    from cli.bench_cmd import IMAGE_COLUMNS, IMAGE_PART_COLUMNS

    assert set(row) == set(IMAGE_COLUMNS) | set(IMAGE_PART_COLUMNS)  # the tables show it all


def test_bench_speech_reports_real_time_factors(speech_model):
    res = bench_speed.bench_speech(str(speech_model), seconds=1.0)
    assert res["encode_rtf"] > 0 and res["decode_rtf"] > 0 and res["bits_per_second"] > 0


def test_bench_speech_times_a_recording_repeated_to_the_length(speech_model, tmp_path):
    """--speech FILE: a 0.4 s recording at 8 kHz, repeated to 1.5 s; its own rate is kept
    (a stream of 1.5 s at 8 kHz has a different size than the tone's)."""
    import soundfile as sf

    from conftest import make_speechlike, run_cli

    sf.write(tmp_path / "r.wav", make_speechlike(0.4, 8000, seed=3), 8000)
    res = bench_speed.bench_speech(str(speech_model), seconds=1.5, recording=str(tmp_path / "r.wav"))
    tone = bench_speed.bench_speech(str(speech_model), seconds=1.5)
    assert res["audio_seconds"] == 1.5 and res["decode_rtf"] > 0
    assert res["bits_per_second"] != tone["bits_per_second"]
    r = run_cli("bench", "speed", "--speech", tmp_path / "missing.wav")
    assert r.returncode == 2 and b"missing.wav: no such file" in r.stderr


def test_bench_cli_times_every_command_against_the_numpy_import():
    from vqcodec.tools import bench_cli

    res = bench_cli.run(repeat=1)
    names = [r["command"] for r in res["rows"]]
    assert names[0] == bench_cli.BASELINE and set(bench_cli.TARGETS) <= set(names)
    assert all(r["median_s"] > 0 and r["x_numpy"] > 0 for r in res["rows"])


def test_bench_stream_reports_per_chunk_latency(speech_model):
    from vqcodec.tools import bench_stream

    res = bench_stream.run(seconds=2.0, rate=8000, busy=False, model=str(speech_model))
    assert res["exit_codes"] == [0, 0]
    assert res["samples_out"] == res["samples_in"] == 16000  # everything fed came out
    assert res["chunks"] >= 8 and 0 < res["chunk_median_ms"] <= res["chunk_worst_ms"]


def test_bench_convs_reports_every_layer_beside_sgemm():
    from vqcodec.runtime import ops
    from vqcodec.tools import bench_convs

    before = ops.BAND_BYTES
    rows = bench_convs.run(repeat=1, band_bytes=4 << 20)
    assert [r["layer"] for r in rows] == [layer[0] for layer in bench_convs.LAYERS]
    assert all(r["ms"] > 0 and r["gmac_per_s"] > 0 and r["sgemm_gmac_per_s"] > 0 for r in rows)
    assert ops.BAND_BYTES == before


def test_bench_stream_fails_when_its_pipeline_failed(speech_model, monkeypatch):
    """A child that died leaves a table of Nones: printed, then one line and exit 2, not 0."""
    from conftest import run_cli
    from vqcodec.tools import bench_stream

    monkeypatch.setattr(bench_stream, "run", lambda *a: {"chunks": 0, "chunk_median_ms": None,
                                                         "exit_codes": [0, 1]})
    r = run_cli("bench", "stream", "--model", str(speech_model), "--json")
    assert r.returncode == 2
    assert '"exit_codes"' in r.stdout.decode()
    assert r.stderr.decode() == ("vqcodec: error: the pipeline failed (compress exited 0, "
                                 "decompress 1); the figures above measure nothing\n")
