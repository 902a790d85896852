"""The encoder's residual VQ search (`runtime.vq.encode`): greedy stage by stage with beam 1,
a beam search over the stages by default, and the same codes from the torch models."""

import numpy as np
import pytest

from vqcodec.runtime import vq


def _books(rng, k: int, dim: int, stages: int) -> list[np.ndarray]:
    return [(rng.standard_normal((k, dim)) * 0.6 ** s).astype(np.float32) for s in range(stages)]


def _greedy(z: np.ndarray, books: list[np.ndarray]) -> np.ndarray:
    """Nearest code per stage, in float64 by direct differences (an independent reference)."""
    res, out = z.reshape(z.shape[0], -1).T.astype(np.float64), []
    for cb in books:
        idx = ((res[:, None, :] - cb[None].astype(np.float64)) ** 2).sum(-1).argmin(1)
        res = res - cb[idx]
        out.append(idx)
    return np.stack(out).reshape(len(books), *z.shape[1:])


def _error(z: np.ndarray, books: list[np.ndarray], idx: np.ndarray) -> np.ndarray:
    """Squared distance from each latent to the sum of its codes, per position."""
    total = vq.decode(idx, books).astype(np.float64)
    return ((z.astype(np.float64) - total) ** 2).sum(0)


def test_the_textbook_case_where_greedy_coding_loses():
    """z = 0: the nearest first code (-1.0) leaves a residual the second codebook covers badly
    (error 0.25); the beam finds 1.1 then -1.1, which sum to z exactly."""
    books = [np.array([[-1.0], [1.1]], np.float32), np.array([[0.5], [-1.1]], np.float32)]
    z = np.zeros((1, 1), np.float32)
    assert vq.encode(z, books, 2, beam=1)[:, 0].tolist() == [0, 0]
    assert vq.encode(z, books, 2)[:, 0].tolist() == [1, 1]
    assert _error(z, books, vq.encode(z, books, 2))[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_beam_one_is_greedy_nearest_codes(stages):
    rng = np.random.default_rng(stages)
    books, z = _books(rng, 32, 6, stages), rng.standard_normal((6, 9, 11)).astype(np.float32)
    got = vq.encode(z, books, stages, beam=1)
    assert got.shape == (stages, 9, 11)
    assert np.array_equal(got, _greedy(z, books))


def test_one_stage_is_the_nearest_code_whatever_the_beam():
    rng = np.random.default_rng(1)
    books, z = _books(rng, 64, 4, 1), rng.standard_normal((4, 300)).astype(np.float32)
    assert np.array_equal(vq.encode(z, books, 1, beam=8), _greedy(z, books))


def test_two_stages_never_farther_than_greedy_and_a_full_beam_is_exhaustive():
    rng = np.random.default_rng(2)
    k = 16
    books, z = _books(rng, k, 3, 2), rng.standard_normal((3, 400)).astype(np.float32)
    greedy = _error(z, books, _greedy(z, books))
    beam = _error(z, books, vq.encode(z, books, 2))
    assert np.all(beam <= greedy + 1e-5)
    assert beam.mean() < 0.97 * greedy.mean()  # it does find better pairs, not just equal ones
    pairs = np.stack(np.meshgrid(np.arange(k), np.arange(k), indexing="ij")).reshape(2, -1)
    sums = (books[0][pairs[0]] + books[1][pairs[1]]).astype(np.float64)  # (K*K, D)
    best = ((z.T.astype(np.float64)[:, None] - sums[None]) ** 2).sum(-1).min(1)
    full = _error(z, books, vq.encode(z, books, 2, beam=k))
    assert np.allclose(full, best, atol=1e-5)


def test_three_stages_come_closer_on_average():
    rng = np.random.default_rng(3)
    books, z = _books(rng, 64, 8, 3), rng.standard_normal((8, 500)).astype(np.float32)
    idx = vq.encode(z, books, 3)
    assert idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < 64
    assert _error(z, books, idx).mean() < _error(z, books, _greedy(z, books)).mean()


def test_greedy_codes_are_prefixes_and_beam_codes_need_not_be():
    """Images code greedily because their levels are prefixes of one another (--bpp);
    a beam optimises the stage count it is asked for."""
    rng = np.random.default_rng(5)
    books, z = _books(rng, 32, 4, 3), rng.standard_normal((4, 400)).astype(np.float32)
    assert np.array_equal(vq.encode(z, books, 3, beam=1)[:2], vq.encode(z, books, 2, beam=1))
    two, three = vq.encode(z, books, 2), vq.encode(z, books, 3)
    assert not np.array_equal(three[:2], two)
    assert _error(z, books, two).mean() <= _error(z, books, three[:2]).mean()


def test_searching_in_blocks_of_positions_changes_nothing(monkeypatch):
    rng = np.random.default_rng(6)
    books, z = _books(rng, 16, 4, 3), rng.standard_normal((4, 9, 11)).astype(np.float32)
    whole = vq.encode(z, books, 3)
    monkeypatch.setattr(vq, "BLOCK", 7)  # 99 positions in 15 blocks, the last one short
    assert np.array_equal(vq.encode(z, books, 3), whole)


def test_a_beam_narrower_than_one_is_refused():
    books = _books(np.random.default_rng(7), 4, 2, 2)
    with pytest.raises(ValueError, match="beam width 0"):
        vq.encode(np.zeros((2, 3), np.float32), books, 2, beam=0)


def test_more_paths_than_codes_and_no_positions_at_all():
    rng = np.random.default_rng(4)
    books = _books(rng, 2, 3, 3)  # 2 codes a stage: the beam holds at most 2, then 4 paths
    z = rng.standard_normal((3, 4, 5)).astype(np.float32)
    pairs = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij")).reshape(3, -1)
    sums = sum(books[s][pairs[s]] for s in range(3)).astype(np.float64)  # all 8 paths
    best = ((z.reshape(3, -1).T[:, None].astype(np.float64) - sums[None]) ** 2).sum(-1).min(1)
    got = _error(z, books, vq.encode(z, books, 3, beam=100)).reshape(-1)
    assert np.allclose(got, best, atol=1e-5)
    assert vq.encode(np.zeros((3, 0), np.float32), books, 3).shape == (3, 0)


def test_the_speech_model_and_codec_pick_the_beam_codes(speech_model):
    """The torch model (prior examples, evaluation) and the numpy runtime (the codec) both use
    the beam search: same indices, no farther from the latent than greedy codes."""
    import torch

    from conftest import make_speechlike
    from vqcodec.models.modelfile import load_model
    from vqcodec.runtime.nets import sequential

    model = load_model(speech_model)
    stages = model.config.stages
    assert stages >= 2
    wave = make_speechlike(2.0, 16000, 4)
    wave = wave[: len(wave) // model.config.frame * model.config.frame]
    rt = model.runtime
    codec = rt.encode(wave, stages)
    with torch.inference_mode():
        assert np.array_equal(model.net.encode(torch.from_numpy(wave)[None], stages)[0].numpy(),
                              codec)
    z = sequential(rt.enc, rt.p, "encoder.net", rt.features(wave))
    books = rt.codebooks[:stages]
    greedy = vq.encode(z, books, stages, beam=1)
    assert np.array_equal(codec, vq.encode(z, books, stages, beam=vq.BEAM))
    assert np.all(_error(z, books, codec) <= _error(z, books, greedy) + 1e-4)


def test_the_image_model_and_codec_pick_the_same_greedy_codes(image_model):
    """One level here; that a multi-level model codes greedily (each level a prefix of the
    next) is checked in test_image_levels, through --bpp and --quality."""
    import torch

    from vqcodec.models.modelfile import load_model
    from vqcodec.runtime.image import to_input
    from vqcodec.runtime.nets import sequential

    model = load_model(image_model)
    rt = model.runtime
    x = to_input(np.random.default_rng(8).integers(0, 256, (32, 48, 3), dtype=np.uint8))
    z = sequential(rt.enc, rt.p, "encoder.net", x)  # (h, w, D)
    greedy = vq.encode(np.moveaxis(z, -1, 0), rt.codebooks, 1, beam=1)[0]
    assert np.array_equal(rt.encode(x), greedy)
    with torch.inference_mode():
        t = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
        assert np.array_equal(model.net.encode(t)[0, 0].numpy(), greedy)


def test_an_index_of_minus_one_is_a_stage_not_coded():
    """vq.decode adds nothing for -1 (a partial last stage): the same float32 sum as the
    frames' coded stages alone."""
    rng = np.random.default_rng(11)
    books = [rng.standard_normal((16, 4)).astype(np.float32) for _ in range(3)]
    idx = rng.integers(0, 16, (3, 9))
    idx[2, ::2] = -1
    got = vq.decode(idx, books)
    assert np.array_equal(got[:, 1::2], vq.decode(idx[:, 1::2], books))
    assert np.array_equal(got[:, ::2], vq.decode(idx[:2, ::2], books))
