"""The speech encoder's entropy-constrained VQ search: a model's `rate_weight` makes the second
search pick codes by squared distance + weight * bits under the prior (codec.speech.
coded_symbols); the decoder, the format and the codes id stay. Also `train`'s check of the
model settings in --config (the rate weight among them) before any work."""

import shutil

import numpy as np
import pytest

from vqcodec.runtime import vq


def _books(rng, k: int, dim: int, stages: int) -> list[np.ndarray]:
    return [(rng.standard_normal((k, dim)) * 0.6 ** s).astype(np.float32) for s in range(stages)]


@pytest.mark.parametrize("beam", [1, 3, 100])
def test_one_search_gives_the_codes_of_both_stage_counts(beam):
    rng = np.random.default_rng(1)
    books, z = _books(rng, 12, 4, 3), rng.standard_normal((4, 7, 9)).astype(np.float32)
    full, fewer = vq.encode_both(z, books, 3, beam=beam)
    assert np.array_equal(full, vq.encode(z, books, 3, beam=beam))
    assert np.array_equal(fewer, vq.encode(z, books, 2, beam=beam))
    one, none = vq.encode_both(z, books, 1, beam=beam)
    assert np.array_equal(one, vq.encode(z, books, 1)) and none.shape == (0, 7, 9)
    assert [a.shape for a in vq.encode_both(z[:, :0], books, 0)] == [(0, 0, 9), (0, 0, 9)]


@pytest.mark.parametrize("beam", [2, 4])
def test_the_shorter_search_keeps_the_first_of_equal_codes(beam):
    """More equal codes than the beam holds (a codebook with a repeated row): the shorter
    search's last stage takes the first of them, as a search of that length does."""
    rng = np.random.default_rng(5)
    books = _books(rng, 16, 3, 3)
    books[1][:] = books[1][3]  # 16 copies of one code
    z = rng.standard_normal((3, 300)).astype(np.float32)
    fewer = vq.encode_both(z, books, 3, beam=beam)[1]
    assert np.array_equal(fewer, vq.encode(z, books, 2, beam=beam))
    assert (vq.encode(z, books, 2, beam=beam)[1] == 0).all()


def test_a_cost_steers_the_search_and_a_zero_cost_changes_nothing():
    rng = np.random.default_rng(2)
    books, z = _books(rng, 16, 4, 3), rng.standard_normal((4, 50)).astype(np.float32)
    seen = []

    def zero(stage, pos, paths):
        seen.append((stage, paths.shape))
        return np.zeros((len(pos), paths.shape[1], 16), np.float32)

    assert np.array_equal(vq.encode(z, books, 3, cost=zero), vq.encode(z, books, 3))
    assert seen == [(0, (50, 1, 0)), (1, (50, 4, 1)), (2, (50, 4, 2))]

    def only_code_5_first(stage, pos, paths):  # every other first-stage code costs a lot
        c = np.zeros((len(pos), paths.shape[1], 16), np.float32)
        if stage == 0:
            c[..., np.arange(16) != 5] = 1e6
        return c

    steered = vq.encode(z, books, 3, cost=only_code_5_first)
    assert (steered[0] == 5).all() and not (vq.encode(z, books, 3)[0] == 5).all()

    def by_position(stage, pos, paths):  # the cost sees which positions it prices
        c = np.full((len(pos), paths.shape[1], 16), 1e6, np.float32)
        c[..., 0] = 0
        c[pos % 2 == 1, :, 1], c[pos % 2 == 1, :, 0] = 0, 1e6
        return c

    got = vq.encode(z, books, 2, cost=by_position)
    assert (got[:, ::2] == 0).all() and (got[:, 1::2] == 1).all()


def _symbols(model, seconds: float, stages: int, share: int):
    """A generated clip's latents, record lengths and first-search symbols in the prior's layout."""
    from conftest import make_speechlike
    from vqcodec.codec.speech import partial_codes, record_lengths

    rt = model.runtime
    wave = make_speechlike(seconds, 16000, seed=3)
    wave = wave[: len(wave) // model.config.frame * model.config.frame]
    z = rt.latents(wave)
    lengths = record_lengths(z.shape[1])
    if share:
        return z, lengths, partial_codes(z, rt.codebooks, stages, lengths, share)
    return z, lengths, vq.encode(z, rt.codebooks, stages).T


@pytest.mark.parametrize("which, share", [("tiny", 0), ("tiny", 128), ("bundled", 80)])
def test_the_rate_term_is_the_priors_own_bits(speech_model, which, share):
    """RateCost prices each code as the exact integer prior does, given the first search's
    earlier frames and the frame's own earlier stages: float heads on unrounded logits, so
    within 0.1 bit where a code costs under 20 bits (the integer logits are rounded to 1/32
    nat), and within 1 bit at the weights' floor (1 in 2^24, rounded there too)."""
    from vqcodec.models.modelfile import load_model

    model = load_model(speech_model if which == "tiny" else "speech-default")
    stages = model.config.stages
    z, lengths, symbols = _symbols(model, 2.5, stages, share)
    cost = model.prior.rate_cost(lengths, stages, share, symbols, weight=1.0)
    plan = model.prior.plan(lengths, stages, share)
    b = np.repeat(np.arange(len(lengths)), lengths)
    t = np.concatenate([np.arange(n) for n in lengths])
    laid = np.zeros((len(lengths), plan.t_max, plan.slots), np.int64)
    laid[b, t] = symbols
    exact = np.zeros(laid.shape + (model.config.codebook_size,))
    ids = np.concatenate(plan.steps_np())
    plan.commit(ids, laid.reshape(-1)[ids])
    w = plan.weights(ids)
    with np.errstate(divide="ignore"):  # a flag's row: two symbols, the rest weigh nothing
        exact.reshape(-1, exact.shape[-1])[ids] = -np.log2(w / w.sum(1, keepdims=True))
    slots = [s for s in range(plan.slots) if s != plan.flag_slot]
    pos = np.arange(len(b))
    for stage, slot in enumerate(slots):
        paths = symbols[:, slots[:stage]][:, None, :]  # the frame's own earlier stages
        got = cost(stage, pos, paths)[:, 0]
        want = exact[b, t, slot]
        coded = symbols[:, plan.flag_slot] != 0 if share and stage == stages - 1 else slice(None)
        assert got.shape == want.shape
        err, likely = np.abs(got[coded] - want[coded]), want[coded] < 20
        assert err[likely].max() < 0.1 and err.max() < 1.0


def test_a_rate_weight_makes_smaller_streams_that_any_reader_decodes(speech_model, tmp_path):
    """compress with a model whose rate_weight is set: a smaller file, other codes; the model
    without it (same codes id) decodes it to the same indices; a round trip through the CLI."""
    import soundfile as sf

    from conftest import make_speechlike, run_cli
    from vqcodec.models import modelfile

    sf.write(tmp_path / "a.wav", make_speechlike(3.0, 16000, seed=21), 16000)
    plain, weighted = tmp_path / "plain.safetensors", tmp_path / "weighted.safetensors"
    shutil.copy(speech_model, plain)
    shutil.copy(speech_model, weighted)
    modelfile.set_rate_weight(weighted, 50.0)
    assert modelfile.load_model(weighted).config.rate_weight == 50.0
    assert modelfile.load_model(weighted).codes == modelfile.load_model(plain).codes
    for name, model, stages in [("p", plain, "1.5"), ("w", weighted, "1.5"), ("p2", plain, "2"),
                                ("w2", weighted, "2")]:
        r = run_cli("compress", tmp_path / "a.wav", "--model", model, "--stages", stages,
                    "-o", tmp_path / f"{name}.vqc")
        assert r.returncode == 0, r.stderr
    for p, w in [("p", "w"), ("p2", "w2")]:
        assert (tmp_path / f"{w}.vqc").stat().st_size < (tmp_path / f"{p}.vqc").stat().st_size
        got = []
        for model in (plain, weighted):
            out = tmp_path / f"{w}-{model.stem}.npy"
            r = run_cli("decompress", tmp_path / f"{w}.vqc", "--model", model, "--indices", out)
            assert r.returncode == 0, r.stderr
            got.append(np.load(out))
        assert np.array_equal(got[0], got[1])
        r = run_cli("decompress", tmp_path / f"{p}.vqc", "--model", plain, "--indices",
                    tmp_path / f"{p}.npy")
        assert not np.array_equal(got[0], np.load(tmp_path / f"{p}.npy"))
    r = run_cli("decompress", tmp_path / "w.vqc", "--model", weighted, "-o", tmp_path / "w.wav")
    assert r.returncode == 0, r.stderr
    assert sf.info(tmp_path / "w.wav").frames == 3 * 16000


def test_setting_a_rate_weight_keeps_the_codes_and_refuses_nonsense(speech_model, image_model,
                                                                    tmp_path):
    from vqcodec.errors import ModelError
    from vqcodec.models import modelfile
    from vqcodec.networks.config import SpeechModelConfig

    path = tmp_path / "m.safetensors"
    shutil.copy(speech_model, path)
    modelfile.write_info(path, "measured", {"rate": "0.8 kbit/s with 2 stages"})
    before = modelfile.load_model(path)
    fp = modelfile.set_rate_weight(path, 2.5)
    after = modelfile.load_model(path)
    assert after.fingerprint == fp != before.fingerprint and after.codes == before.codes
    assert after.config.rate_weight == 2.5 and "measured" not in after.info
    modelfile.set_rate_weight(path, 0)
    assert modelfile.load_model(path).config.rate_weight == 0.0
    for bad in (-1.0, float("nan"), float("inf"), 1e7, True):
        with pytest.raises(ModelError, match="rate_weight .*: a number from 0 to 1e"):
            modelfile.set_rate_weight(path, bad)
    fp = modelfile.set_rate_weight(path, 3.0)
    modelfile.write_info(path, "measured", {"rate": "0.7 kbit/s with 2 stages"})
    again = modelfile.load_model(path).fingerprint
    assert modelfile.set_rate_weight(path, 3.0) == again  # as it is: nothing rewritten
    assert "measured" in modelfile.load_model(path).info
    for bad in (-1, "2", float("nan"), 1e7, True):
        with pytest.raises(TypeError, match="rate_weight"):
            SpeechModelConfig(rate_weight=bad)
    with pytest.raises(ModelError, match="only speech models"):
        modelfile.set_rate_weight(image_model, 1.0)


def test_the_decoder_trains_on_the_codes_a_weighted_encoder_sends(speech_model, tmp_path):
    """`train --codec-stages` with a rate weight: coded_latents runs the same two searches as
    the codec (coded_symbols), so the decoder learns on the codes streams carry."""
    from vqcodec.codec.speech import coded_latents, coded_symbols, partial_indices
    from vqcodec.models import modelfile

    path = tmp_path / "m.safetensors"
    shutil.copy(speech_model, path)
    modelfile.set_rate_weight(path, 50.0)
    model = modelfile.load_model(path)
    books, prior = model.runtime.codebooks, model.prior
    z, lengths, _ = _symbols(model, 2.5, 2, 0)
    for stages, whole, share in [(1.5, 2, 128), (2, 2, 0)]:
        symbols = coded_symbols(z, books, whole, share, lengths, prior, 50.0)
        idx = partial_indices(symbols, whole).T if share else symbols.T
        got = coded_latents(z, books, stages, lengths, prior, 50.0)
        assert np.array_equal(got, vq.decode(idx, books))
        assert not np.array_equal(got, coded_latents(z, books, stages, lengths))


def test_a_decoder_trained_alone_keeps_the_coding_of_its_base(media, speech_model, tmp_path,
                                                              monkeypatch):
    """`train --only decoder --codec-stages` from a model with a rate weight and another default
    stage count than --config's: the networks match, so it trains; the decoder learns on the
    weighted codes; the new model keeps the weight (--config does not give one) and codes the
    same streams."""
    import json

    import soundfile as sf

    from conftest import TINY_SPEECH, make_speechlike, run_cli
    from vqcodec.kinds.speech import SpeechKind
    from vqcodec.models import modelfile

    base, out = tmp_path / "base.safetensors", tmp_path / "dec.safetensors"
    shutil.copy(speech_model, base)
    modelfile.set_rate_weight(base, 50.0)
    modelfile.set_default_stages(base, 1.5)  # --config below says 2
    seen, view = [], SpeechKind.codec_view

    def spy(self, net, heard, x, choices, rng, prior=None):
        seen.append(net.cfg.rate_weight)
        return view(self, net, heard, x, choices, rng, prior)

    monkeypatch.setattr(SpeechKind, "codec_view", spy)
    r = run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                json.dumps(TINY_SPEECH), "--init", base, "--only", "decoder", "--steps", "2",
                "--batch", "2", "--seconds", "0.5", "-q", "--codec-stages", "1.5,2")
    assert r.returncode == 0, r.stderr
    assert seen == [50.0, 50.0]
    new, old = modelfile.load_model(out), modelfile.load_model(base)
    assert new.config.rate_weight == 50.0 and new.config.default_stages == 2  # as --config says
    assert new.codes == old.codes
    sf.write(tmp_path / "a.wav", make_speechlike(1.5, 16000, seed=9), 16000)
    for name, model in (("old", base), ("new", out)):
        r = run_cli("compress", tmp_path / "a.wav", "-m", model, "--stages", "1.5",
                    "-o", tmp_path / f"{name}.vqc")
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "old.vqc").read_bytes() == (tmp_path / "new.vqc").read_bytes()


@pytest.mark.parametrize("config, message", [
    ('{"rate_weight": -1}', "--config: rate_weight -1: a number from 0 to 1e+06"),
    ('{"rate_weight": "2"}', "--config: rate_weight '2': a number from 0 to 1e+06"),
    ('{"no_such_setting": 1}', "unexpected keyword argument 'no_such_setting'"),
    ('[2]', "--config: give a JSON object of model settings"),
    ('{"default_stages": 7}', "--config: default_stages 7 is not between 1 and the model's 3"),
    ('{"default_stages": "2"}', "--config: default_stages '2' is not between 1")])
def test_train_refuses_a_bad_model_setting_in_one_line(media, tmp_path, config, message):
    from conftest import run_cli

    out = tmp_path / "m.safetensors"
    r = run_cli("train", "speech", "--data", media / "sp", "--config", config, "--out", out,
                "--steps", "1")
    assert r.returncode == 1 and message in r.stderr.decode()
    assert len(r.stderr.decode().strip().splitlines()) == 1 and not out.exists()
