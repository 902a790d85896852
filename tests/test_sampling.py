"""Sampling the latent space: reproducibility, formats, histogram support, greedy prior."""

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from conftest import run_cli


def test_sampling_is_reproducible_with_a_seed(image_model, tmp_path):
    for name in ("a", "b"):
        r = run_cli("sample", "--model", image_model, "--scheme", "prior", "-n", "3", "--size", "32",
                    "--seed", "5", "-o", tmp_path / f"{name}.png")
        assert r.returncode == 0, r.stderr
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in "ab")
    assert np.array_equal(a, b)
    assert a.shape[2] == 3 and a.shape[0] == 32 + 4  # one row of 32-pixel tiles plus borders


def test_speech_samples_are_one_wav_each(speech_model, tmp_path):
    r = run_cli("sample", "--model", speech_model, "--scheme", "uniform", "-n", "2", "--size", "10",
                "-o", tmp_path / "s.wav")
    assert r.returncode == 0, r.stderr
    for i in range(2):
        x, rate = sf.read(tmp_path / f"s_{i}.wav")
        assert rate == 16000 and len(x) == 10 * 320


def test_histogram_sampling_draws_only_codes_seen_in_training(image_model):
    from vqcodec import api
    from vqcodec.tools import sampling

    m = api.load_any_model(str(image_model))
    seen = set(torch.nonzero(m.histogram[0]).flatten().tolist())
    s = sampling.sample_indices(m, "histogram", 4, 64, seed=1)
    assert set(s.indices.unique().tolist()) <= seen


def test_prior_sampling_near_zero_temperature_follows_the_most_probable_index(speech_model):
    from vqcodec import api
    from vqcodec.tools import sampling

    m = api.load_any_model(str(speech_model))
    s = sampling.sample_indices(m, "prior", 2, 12, temperature=1e-4, seed=3)
    plan = m.prior.plan([12, 12], 2)
    ids = torch.cat(plan.steps())
    plan.commit(ids, s.indices.flatten()[ids])
    w = torch.from_numpy(plan.weights(ids))
    chosen = s.indices.flatten()[ids]
    assert torch.equal(w[torch.arange(len(ids)), chosen], w.max(dim=1).values)  # a most probable one


@pytest.mark.parametrize("kind, folder, size, distances, written", [
    ("image", "img", "32", {"gradient_histogram_tv", "rgb_histogram_tv"}, (32 + 4, 3 * (138 + 8), 3)),
    ("speech", "sp", "10", {"mean_logmel_l1_db"}, None),
])
def test_compare_reports_all_three_schemes(kind, folder, size, distances, written, media, tmp_path,
                                           request):
    """Images also write the three schemes' grids side by side; speech writes nothing."""
    import json

    model = request.getfixturevalue(f"{kind}_model")
    r = run_cli("sample", "--model", model, "--compare", media / folder, "-n", "2", "--size", size,
                "--json", "-o", tmp_path / "cmp.png")
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    assert set(table) == {"uniform", "histogram", "prior"}
    for row in table.values():
        assert set(row) == {"bits_per_index", *distances} and all(v > 0 for v in row.values())
    if written:
        assert np.asarray(Image.open(tmp_path / "cmp.png")).shape == written
    else:
        assert list(tmp_path.iterdir()) == []


def test_histogram_from_a_folder_counts_every_position_of_every_file(image_model, speech_model, media):
    from vqcodec import api
    from vqcodec.tools import sampling

    img = sampling.collect_histogram(api.load_any_model(str(image_model)), media / "img")
    assert img.shape == (1, 32) and int(img.sum()) == 6 * (160 // 8) * (128 // 8)
    sp = sampling.collect_histogram(api.load_any_model(str(speech_model)), media / "sp")
    assert sp.shape == (2, 32) and sp.sum(dim=1).tolist() == [4 * 150] * 2  # 3 s at 50 frames/s


def test_histogram_sampling_from_a_folder_writes_one_grid(image_model, media, tmp_path):
    r = run_cli("sample", "--model", image_model, "--scheme", "histogram", "--data", media / "img",
                "-n", "2", "--size", "16", "-o", tmp_path / "h.png")
    assert r.returncode == 0, r.stderr
    assert np.asarray(Image.open(tmp_path / "h.png")).shape == (16 + 4, 4 * (16 + 2) + 2, 3)


def test_speech_samples_into_a_folder_are_numbered(speech_model, tmp_path):
    r = run_cli("sample", "--model", speech_model, "--scheme", "uniform", "-n", "3", "--size", "10",
                "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"sample_{i}.wav" for i in range(3)]


def test_image_sample_size_must_be_a_multiple_of_the_grid(image_model, tmp_path):
    r = run_cli("sample", "--model", image_model, "--size", "12", "-o", tmp_path / "x.png")
    assert r.returncode == 1 and b"multiple of 8" in r.stderr
    assert list(tmp_path.iterdir()) == []
