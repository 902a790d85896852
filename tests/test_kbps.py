"""Speech at a bit-rate budget: `compress --kbps X` codes the most stages (1/256 steps) whose
file fits X kbit/s (codec/speech.py: fit_rate)."""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import make_speechlike, run_cli
from vqcodec import api
from vqcodec.codec.speech import fit_rate
from vqcodec.errors import UsageError


def sizes(j_size):
    """A `code` for fit_rate from a size per grid point (1 + j / 256 stages), and its calls."""
    calls = []

    def code(stages: float) -> bytes:
        j = round((stages - 1) * 256)
        calls.append(j)
        return bytes(j_size(j))

    return code, calls


@pytest.mark.parametrize("budget", [130, 700, 1001, 1499, 1800])
def test_fit_rate_finds_the_largest_count_that_fits(budget):
    # concave like real streams: the flags and first partial frames cost most
    size = lambda j: 100 + 700 * (j // 256) + 700 * (j % 256 / 256) ** 0.7  # noqa: E731
    code, calls = sizes(lambda j: int(size(j)))
    data, stages = fit_rate(code, seconds=8.0, kbps=budget * 8 / 8.0 / 1000, model_stages=3)
    j = round((stages - 1) * 256)
    assert len(data) == int(size(j)) <= budget
    best = max(k for k in range(513) if size(k) <= budget)  # sizes grow with k
    assert best - j <= 2 or budget - len(data) <= budget // 200
    assert len(calls) <= 8 and calls[0] == 512  # the top first


def test_fit_rate_stops_at_once_when_every_stage_fits():
    code, calls = sizes(lambda j: 10 + j)
    data, stages = fit_rate(code, seconds=1.0, kbps=100.0, model_stages=3)
    assert (stages, len(data), calls) == (3.0, 522, [512])


def test_fit_rate_refuses_a_budget_below_one_stage():
    code, _ = sizes(lambda j: 1000 + j)
    with pytest.raises(UsageError, match=r"--kbps 0\.5: even 1 stage needs 1\.000 kbit/s"):
        fit_rate(code, seconds=8.0, kbps=0.5, model_stages=3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("kbps") / "talk.wav"
    sf.write(path, make_speechlike(6.0, 16000, seed=5), 16000)
    return path


def test_kbps_file_fits_and_is_the_stream_of_its_stage_count(speech_model, clip, tmp_path):
    one = json.loads(run_cli("compress", clip, "-m", speech_model, "-o", tmp_path / "1.vqc",
                             "--stages", "1", "--json").stdout)
    two = json.loads(run_cli("compress", clip, "-m", speech_model, "-o", tmp_path / "2.vqc",
                             "--json").stdout)
    kbps = (one["bit_per_second"] + two["bit_per_second"]) / 2 / 1000  # between the two
    r = run_cli("compress", clip, "-m", speech_model, "-o", tmp_path / "k.vqc", "--kbps",
                f"{kbps:.3f}", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert 1 < got["stages"] < 2  # to 4 decimals: a grid point of 1/256
    size = (tmp_path / "k.vqc").stat().st_size
    assert got["bytes"] == size <= round(kbps, 3) * 1000 * 6.0 / 8
    assert got["bit_per_second"] > one["bit_per_second"]
    run_cli("compress", clip, "-m", speech_model, "-o", tmp_path / "s.vqc",
            "--stages", str(got["stages"]))
    assert (tmp_path / "s.vqc").read_bytes() == (tmp_path / "k.vqc").read_bytes()
    assert run_cli("decompress", tmp_path / "k.vqc", "-m", speech_model, "-o",
                   tmp_path / "k.wav").returncode == 0
    assert sf.info(tmp_path / "k.wav").frames == 6 * 16000


def test_kbps_through_the_library(speech_model, clip):
    x, rate = sf.read(clip, dtype="float32")
    top = api.compress(x, model=speech_model, rate=rate, stages=2)
    assert api.compress(x, model=speech_model, rate=rate, kbps=1000.0) == top
    low = api.compress(x, model=speech_model, rate=rate, kbps=len(top) * 8 / 6.0 / 1000 * 0.8)
    assert len(low) <= len(top) * 0.8
    with pytest.raises(UsageError, match="kbps= applies to speech"):
        api.compress(np.zeros((16, 16, 3), np.uint8), kbps=1.0)


@pytest.mark.parametrize("args, message", [
    (["--kbps", "0"], "--kbps must be a positive number"),
    (["--kbps", "nan"], "--kbps must be a positive number"),
    (["--kbps", "inf"], "--kbps must be a positive number"),
    (["--kbps", "1", "--stages", "2"], "give --stages or --kbps, not both"),
    (["--kbps", "0.05"], "--kbps 0.05: even 1 stage needs"),
])
def test_bad_kbps_is_one_line_and_writes_nothing(speech_model, clip, tmp_path, args, message):
    r = run_cli("compress", clip, "-m", speech_model, "-o", tmp_path / "x.vqc", *args)
    err = r.stderr.decode()
    assert r.returncode == 1 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.vqc").exists()


def test_kbps_refused_with_stream_and_on_images(speech_model, clip, photo, tmp_path):
    r = run_cli("compress", "--stream", "-", "-m", speech_model, "-o", tmp_path / "x.vqc",
                "--kbps", "1", input=clip.read_bytes())
    assert r.returncode == 1 and "--stream sets its rate with --stages" in r.stderr.decode()
    r = run_cli("compress", photo, "-o", tmp_path / "p.vqc", "--kbps", "1")
    assert r.returncode == 1 and "--kbps applies to speech" in r.stderr.decode()
    assert not (tmp_path / "x.vqc").exists() and not (tmp_path / "p.vqc").exists()


def test_fit_rate_takes_a_budget_too_large_for_a_float():
    """kbps * 1000 * seconds overflows to inf for --kbps 1e308: every stage count fits."""
    code, calls = sizes(lambda j: 10 + j)
    data, stages = fit_rate(code, seconds=100.0, kbps=1e308, model_stages=3)
    assert (stages, len(data), calls) == (3.0, 522, [512])


def test_a_huge_kbps_codes_every_stage(speech_model, clip, tmp_path):
    r = run_cli("compress", clip, "-m", speech_model, "-o", tmp_path / "k.vqc", "--kbps", "1e308",
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stages"] == 2  # the tiny model's every stage
