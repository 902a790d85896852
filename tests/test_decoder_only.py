"""`train --only decoder` / `--only encoder,decoder`: parts retrained alone keep their base
model's codes (codebooks and prior), so the streams of either model decode with the other; with
the decoder alone, byte for byte the same streams."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open

from conftest import TINY_IMAGE, TINY_SPEECH, make_speechlike, run_cli

from vqcodec.models.modelfile import TRAINING_BUFFERS, load_model, part_tensors, read_metadata

DECODER, DECODER_TENSORS = "decoder.", part_tensors(("decoder",))

SMALL_GAN = json.dumps({"periods": [2, 3], "resolutions": [[256, 64]], "period_channels": [4, 8],
                        "stft_channels": 4, "batch": 2, "seconds": 0.25})


def _tensors(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), "np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def _train_decoder(media: Path, init: Path, out: Path, *extra: str, only: str = "decoder"):
    return run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                   json.dumps(TINY_SPEECH), "--init", init, "--only", only, "--steps", "3",
                   "--batch", "2", "--seconds", "0.5", "--lr", "1e-3", "-q", *extra)


def _compress_with_both(base: Path, new: Path, tmp_path: Path) -> dict[str, Path]:
    """The same 1.5 s of speech-like sound compressed with the base and the new model."""
    wav = tmp_path / "in.wav"
    sf.write(wav, make_speechlike(1.5, 16000, 9), 16000)
    streams = {}
    for name, model in (("base", base), ("new", new)):
        streams[name] = tmp_path / f"{name}.vqc"
        assert run_cli("compress", wav, "-o", streams[name], "-m", model).returncode == 0
    return streams


def _upgrade(media: Path, speech_model: Path, tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Retrain a decoder alone and check the model file and the streams: (new model, a stream
    of the base model, its decoding by the new one)."""
    out = tmp_path / "dec.safetensors"
    r = _train_decoder(media, speech_model, out, "--adversarial", "--gan-config", SMALL_GAN)
    assert r.returncode == 0, r.stderr.decode()
    base, new = _tensors(speech_model), _tensors(out)
    kept = [k for k in base if not k.startswith(DECODER_TENSORS)]
    assert sorted(kept) == sorted(k for k in new if not k.startswith(DECODER_TENSORS))
    assert any(k.startswith("prior.") for k in kept) and any("codebook" in k for k in kept)
    assert all(np.array_equal(base[k], new[k]) for k in kept)  # encoder, codebooks, prior
    assert any(not np.array_equal(base[k], new[k])
               for k in new if k.startswith(DECODER_TENSORS) and k in base)
    # what trained beside the decoder was the base's own encoder and codebooks, unchanged
    trained = torch.load(str(out) + ".ckpt", weights_only=True)["net"]
    for k, v in load_model(speech_model).net.state_dict().items():
        if not k.startswith(DECODER) and k.rsplit(".", 1)[-1] not in TRAINING_BUFFERS:
            assert torch.equal(trained[k], v), k

    b, m = load_model(speech_model), load_model(out)
    assert m.fingerprint != b.fingerprint and m.codes == b.fingerprint
    assert m.short_id == b.short_id == b.fingerprint[:4].hex()
    assert read_metadata(out)["codes"] == b.fingerprint.hex()
    summary = json.loads(read_metadata(out)["info"])["training"]
    assert summary["kept_codes"] == {"base": speech_model.name, "codes": b.short_id,
                                     "trained": ["decoder"]}
    assert summary["prior_bits_per_index_int"] > 0

    streams = _compress_with_both(speech_model, out, tmp_path)
    assert streams["base"].read_bytes() == streams["new"].read_bytes()  # same header, same indices
    decoded = {}
    for name, model in (("base", speech_model), ("new", out)):
        back = tmp_path / f"back-{name}.wav"
        r = run_cli("decompress", streams["base"], "-o", back, "-m", model)
        assert r.returncode == 0, r.stderr.decode()
        decoded[name] = sf.read(back, dtype="int16")[0]
    assert len(decoded["new"]) == len(decoded["base"]) == 24000
    assert not np.array_equal(decoded["new"], decoded["base"])  # the new decoder made it
    return out, streams["base"], decoded["new"]


def test_an_upgraded_bundled_model_reads_the_streams_of_the_one_it_replaced(
        media, speech_model, tmp_path, monkeypatch):
    """The user's view: the bundled speech model replaced by a decoder retrained alone; a stream
    written before names the old model, and plain `decompress` (no --model) finds the new one."""
    import shutil

    from vqcodec.codec import describe
    from vqcodec.models import registry

    new, old_stream, expected = _upgrade(media, speech_model, tmp_path)
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    shutil.copy(new, bundled / "speech-default.safetensors")
    monkeypatch.setattr(registry, "MODELS_DIR", bundled)
    monkeypatch.setattr(describe, "MODELS_DIR", bundled)
    back = tmp_path / "plain.wav"
    r = run_cli("decompress", old_stream, "-o", back)
    assert r.returncode == 0, r.stderr.decode()
    assert np.array_equal(sf.read(back, dtype="int16")[0], expected)
    (row,) = describe.bundled_models()
    assert row["id"] == load_model(speech_model).short_id  # the id streams carry
    assert row["fingerprint"] == load_model(new).fingerprint[:4].hex() != row["id"]


def test_encoder_and_decoder_retrained_keep_the_codebooks_and_the_prior(media, speech_model,
                                                                        tmp_path):
    """`--only encoder,decoder`: new streams (the encoder moved) that the base model decodes to
    the same indices, and the base model's streams decode with the new model."""
    out = tmp_path / "encdec.safetensors"
    r = _train_decoder(media, speech_model, out, "--lr", "1e-2", only="encoder,decoder")
    assert r.returncode == 0, r.stderr.decode()
    trained = part_tensors(("encoder", "decoder"))
    base, new = _tensors(speech_model), _tensors(out)
    kept = [k for k in base if not k.startswith(trained)]
    assert sorted(kept) == sorted(k for k in new if not k.startswith(trained))
    assert any(k.startswith("prior.") for k in kept) and any("codebook" in k for k in kept)
    assert all(np.array_equal(base[k], new[k]) for k in kept)
    for part in ("encoder", "decoder"):
        assert any(not np.array_equal(base[k], new[k]) for k in new
                   if k.startswith(part_tensors((part,)))), part
    b, m = load_model(speech_model), load_model(out)
    assert m.codes == b.fingerprint != m.fingerprint
    summary = json.loads(read_metadata(out)["info"])["training"]
    assert summary["kept_codes"]["trained"] == ["encoder", "decoder"]

    streams = _compress_with_both(speech_model, out, tmp_path)
    assert streams["base"].read_bytes() != streams["new"].read_bytes()  # the encoder moved
    for stream in streams.values():  # each model reads the same indices from either stream
        idx = [_indices(stream, model) for model in (speech_model, out)]
        assert np.array_equal(idx[0], idx[1])
        for model in (speech_model, out):
            assert run_cli("decompress", stream, "-o", tmp_path / "b.wav", "-f", "-m",
                           model).returncode == 0


def _indices(stream: Path, model: Path) -> np.ndarray:
    from vqcodec import api
    from vqcodec.codec import container

    f = io.BytesIO(stream.read_bytes())
    header = container.read_header(f)
    return api.decode_stream_indices(f, header, model)


def test_decoder_only_from_a_checkpoint_uses_the_model_that_run_wrote(media, speech_model,
                                                                     tmp_path):
    first = tmp_path / "first.safetensors"
    assert _train_decoder(media, speech_model, first).returncode == 0
    again = tmp_path / "again.safetensors"
    r = _train_decoder(media, Path(str(first) + ".ckpt"), again)
    assert r.returncode == 0, r.stderr.decode()
    assert load_model(again).codes == load_model(speech_model).fingerprint  # codes of the root

    Path(str(first)).unlink()  # the checkpoint alone no longer names the codes
    r = _train_decoder(media, Path(str(first) + ".ckpt"), tmp_path / "x.safetensors")
    assert r.returncode == 1
    assert "is not a readable model file" in r.stderr.decode()


def test_freezing_keeps_encoder_and_codebooks_and_still_drops_stages():
    """The trainer's step with the frozen parts in eval mode: EMA updates, dead-code restarts
    (after 1 idle step) and k-means leave the codebooks alone; the decoder learns every prefix."""
    from vqcodec.kinds import get
    from vqcodec.train.warmstart import freeze_codes

    kind = get("speech")
    cfg = kind.config({**TINY_SPEECH, "stages": 3, "dead_after": 1, "quantizer": "ema"})
    net = kind.network(cfg)
    for q in net.quantizer.stages:
        q.initialised.fill_(True)
    before = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith(DECODER)}
    frozen = freeze_codes(net)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    assert {id(p) for g in opt.param_groups for p in g["params"]} == \
        {id(p) for p in net.decoder.parameters()}
    stages, x = set(), torch.from_numpy(make_speechlike(0.5, 16000, 1)[None].astype(np.float32))
    for _ in range(12):
        net.train()
        for m in frozen:
            m.eval()
        y, idx, vq_loss, _ = net(x)
        stages.add(idx.shape[1])
        opt.zero_grad()
        ((y - x) ** 2).mean().backward()
        opt.step()
    after = net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert stages == {1, 2, 3}


@pytest.mark.parametrize("args, message", [
    (["--only", "decoder"], "give --init"),
    (["--only", "codebooks", "--init", "X"], "unknown --only 'codebooks'"),
    (["--only", "decoder,decoder", "--init", "X"], "unknown --only 'decoder,decoder'"),
    (["--only", "encoder,decoder"], "--only encoder,decoder fine-tunes a trained model: give --init"),
    (["--only", "decoder", "--init", "X", "--prior-steps", "5"], "--prior-steps: --only decoder"),
    (["--only", "decoder", "--init", "X", "--prior-examples", "5"], "--prior-examples: --only"),
])
def test_only_is_checked_before_any_work(media, tmp_path, args, message):
    r = run_cli("train", "speech", "--data", media / "sp", "--out", tmp_path / "x.safetensors",
                *args)
    assert r.returncode == 1
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_image_decoder_alone_keeps_the_indices(media, image_model, tmp_path):
    """An image model's decoder retrained alone: the same index stream; the colour map, measured
    against each model's own decoder, may differ; without it the streams are identical."""
    from vqcodec.codec import container
    from vqcodec.codec.image import split_payload

    out = tmp_path / "img.safetensors"
    r = run_cli("train", "image", "--data", media / "img", "--out", out, "--config",
                json.dumps(TINY_IMAGE), "--init", image_model, "--only", "decoder", "--steps", "2",
                "--batch", "2", "--crop", "32", "--lr", "1e-2", "-q")
    assert r.returncode == 0, r.stderr.decode()
    base, new = _tensors(image_model), _tensors(out)
    assert all(np.array_equal(base[k], new[k]) for k in base if not k.startswith(DECODER_TENSORS))
    assert load_model(out).codes == load_model(image_model).fingerprint

    photo = media / "img" / "0.png"
    made = {}
    for name, model in (("base", image_model), ("new", out)):
        for flag in ("--colour-correction", "--no-colour-correction"):
            made[name, flag] = tmp_path / f"{name}{flag}.vqc"
            # level 1: the detail levels (which the retrained model has, as every model `train`
            # makes) code the residual of each model's own decoder
            r = run_cli("compress", photo, "-o", made[name, flag], "-m", model, flag, "--quality", "1")
            assert r.returncode == 0, r.stderr.decode()
    assert load_model(out).config.levels == 8 and load_model(image_model).config.levels == 1
    plain = [made[n, "--no-colour-correction"].read_bytes() for n in ("base", "new")]
    assert plain[0] == plain[1]
    index_streams = []
    for n in ("base", "new"):
        stream = io.BytesIO(made[n, "--colour-correction"].read_bytes())
        header = container.read_header(stream)
        index_streams.append(split_payload(header, container.read_record(stream).payload)[0])
    assert index_streams[0] == index_streams[1]


def test_a_checkpoint_resumes_only_as_it_was_started(media, speech_model, tmp_path):
    out = tmp_path / "d.safetensors"
    r = _train_decoder(media, speech_model, out, "--stop-after", "1")
    assert r.returncode == 0, r.stderr.decode()
    r = run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                json.dumps(TINY_SPEECH), "--init", speech_model, "--steps", "3", "--batch", "2",
                "--seconds", "0.5", "--resume", "-q")
    assert r.returncode == 1
    assert "was trained with --only decoder" in r.stderr.decode()
    assert _train_decoder(media, speech_model, out, "--resume").returncode == 0


@pytest.mark.parametrize("codes, message", [("ab" * 32, "tampered"), ("zz", "malformed codes id")])
def test_an_edited_codes_id_is_refused(speech_model, tmp_path, codes, message):
    """The inherited id is covered by the fingerprint, so editing it in is caught like any other
    damage (the fingerprint is a checksum, not a signature: see docs/FORMAT.md)."""
    from safetensors.numpy import save_file

    from vqcodec.errors import ModelError

    meta = read_metadata(speech_model)
    edited = tmp_path / "edited.safetensors"
    save_file(_tensors(speech_model), str(edited), metadata={**meta, "codes": codes})
    with pytest.raises(ModelError, match=message):
        load_model(edited)


def test_coded_latents_are_what_a_stream_at_that_stage_count_decodes_to():
    """`train --codec-stages` teaches the decoder on `coded_latents`: whole stage counts are the
    encoder's beam search; 2.25 gives the third stage to the 13 of 50 frames where it brings the
    latent closest, the others keep their own 2-stage search, and the flags/-1 path the stream
    decoder takes gives back the same latents."""
    from vqcodec.codec.speech import coded_latents, partial_codes, partial_indices
    from vqcodec.runtime import vq

    rng = np.random.default_rng(3)
    books = [rng.normal(size=(16, 4)).astype(np.float32) * s for s in (1.0, 0.5, 0.25)]
    z = rng.normal(size=(4, 50)).astype(np.float32)
    two = vq.decode(vq.encode(z, books, 2), books)
    three = vq.decode(vq.encode(z, books, 3), books)
    assert np.array_equal(coded_latents(z, books, 2, [50]), two)
    assert np.array_equal(coded_latents(z, books, 3, [50]), three)
    got = coded_latents(z, books, 2.25, [50])
    third = np.all(got == three, axis=0) & ~np.all(got == two, axis=0)
    assert third.sum() == 13 and np.all(got[:, ~third] == two[:, ~third])
    gain = np.square(z - two).sum(0) - np.square(z - three).sum(0)
    assert gain[third].min() >= gain[~third].max()
    symbols = partial_codes(z, books, 3, [50], 64)
    assert np.array_equal(vq.decode(partial_indices(symbols, 3).T, books), got)
    # each record chooses its own frames: 2 x 25 frames get 6 each (6.25, rounded)
    split = coded_latents(z, books, 2.25, [25, 25])
    flagged = ~np.all(split == two, axis=0)
    assert flagged[:25].sum() == flagged[25:].sum() == 6
    assert np.array_equal(split[:, flagged], three[:, flagged])


def test_decoder_trained_on_the_codecs_codes_keeps_the_streams(media, speech_model, tmp_path,
                                                              monkeypatch):
    """`--codec-stages`: every training step's latents come from `codec_view` (the codec's
    level control and codes); the rest of the model and the streams stay."""
    from vqcodec.kinds.speech import SpeechKind

    seen = []
    view = SpeechKind.codec_view

    def spy(self, net, heard, x, choices, rng, prior=None):
        seen.append(choices)
        assert prior is not None and prior.cfg.codebook_size == net.cfg.codebook_size
        return view(self, net, heard, x, choices, rng, prior)

    monkeypatch.setattr(SpeechKind, "codec_view", spy)
    out = tmp_path / "dec.safetensors"
    r = _train_decoder(media, speech_model, out, "--codec-stages", "1,1.5,2")
    assert r.returncode == 0, r.stderr.decode()
    assert seen == [(1.0, 1.5, 2.0)] * 3  # the three steps
    base, new = _tensors(speech_model), _tensors(out)
    assert all(np.array_equal(base[k], new[k]) for k in base if not k.startswith(DECODER_TENSORS))
    assert any(not np.array_equal(base[k], new[k]) for k in new if k.startswith(DECODER_TENSORS))
    streams = _compress_with_both(speech_model, out, tmp_path)
    assert streams["base"].read_bytes() == streams["new"].read_bytes()
    # a checkpoint resumes only as it was started
    r = _train_decoder(media, speech_model, out, "--resume", "--steps", "4")
    assert r.returncode == 1
    assert "was trained with --codec-stages 1,1.5,2; resume it as it was started" in r.stderr.decode()


def test_the_codec_view_of_a_quiet_crop_is_level_controlled_and_coded_per_record(speech_model):
    """A 1.5 s crop at -35 dBFS: two records (50 + 25 frames), each heard as the encoder hears
    it (its level raised to about -15 dBFS, the target scaled alike), the partial stage on
    share 128 of each record's frames (25 of 50, 13 of 25)."""
    from vqcodec.codec.speech import speech_level_db
    from vqcodec.kinds.speech import SpeechKind
    from vqcodec.runtime import vq

    net = load_model(speech_model).net.eval()
    wave = make_speechlike(1.5, 16000, 4)
    wave = wave / 10 ** ((speech_level_db(wave, 320) + 35) / 20)
    x = torch.from_numpy(np.stack([wave, wave]).astype(np.float32))
    heard = x * 0.5  # as if band-limited: what the encoder hears sets the gain
    before = x.clone()
    with torch.no_grad():
        h, t, q = SpeechKind().codec_view(net, heard, x, (1.5,), np.random.default_rng(0))
    assert torch.equal(x, before)  # the batch itself is left alone
    h2, t2, _ = SpeechKind().codec_view(net, x, x, (1.5,), np.random.default_rng(0))
    assert torch.equal(h2, t2)  # heard and the target one tensor (no --narrowband): scaled once
    some = heard[0].abs() > 1e-6  # no DC offset at this level: the gain is h / heard
    gain = h[0][some] / heard[0][some]
    assert abs(speech_level_db(h[0].numpy(), 320) + 15) < 0.5  # heard at -41 dBFS: +26 dB
    assert abs(20 * np.log10(float(gain.min())) - 26) < 0.3 and torch.allclose(gain, gain.min())
    assert torch.allclose(t[0][some], x[0][some] * gain, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        z = net.encoder(net.features(h)).float().numpy()[0]
    books = [s.codebook.float().numpy() for s in net.quantizer.stages]
    one, two = (vq.decode(vq.encode(z, books, n), books) for n in (1, 2))
    flagged = ~np.all(q[0].numpy() == one, axis=0)
    assert q.shape == (2, z.shape[0], 75)
    assert flagged[:50].sum() == 25 and flagged[50:].sum() == 13
    assert np.array_equal(q[0].numpy()[:, flagged], two[:, flagged])


def test_the_decoder_gets_the_codecs_latents_when_given():
    """The network's forward with `quantized` runs the decoder alone on those latents."""
    from vqcodec.networks.speech_model import SpeechModelConfig, SpeechVQVAE

    net = SpeechVQVAE(SpeechModelConfig(**{k: v for k, v in TINY_SPEECH.items() if k != "prior"}))
    wave = torch.randn(2, 16000)
    q = torch.randn(2, net.cfg.latent_dim, 16000 // net.cfg.frame)
    y, idx, loss, err = net(wave, quantized=q)
    assert idx is None and float(loss) == float(err) == 0
    assert torch.equal(y, net.synthesize(q, 16000))


@pytest.mark.parametrize("kind, args, message", [
    ("speech", ["--codec-stages", "1,2"], "--codec-stages trains a speech decoder alone: give --only decoder"),
    ("speech", ["--only", "encoder,decoder", "--codec-stages", "2"], "give --only decoder"),
    ("speech", ["--only", "decoder", "--codec-stages", "1,two"], "'1,two' is not a comma-separated list"),
    ("speech", ["--only", "decoder", "--codec-stages", "1,nan"], "below 1 or not finite"),
    ("speech", ["--only", "decoder", "--codec-stages", "0"], "below 1 or not finite"),
    ("image", ["--only", "decoder", "--codec-stages", "1"], "--codec-stages is for speech models"),
])
def test_codec_stages_is_checked_before_any_work(media, tmp_path, speech_model, kind, args, message):
    r = run_cli("train", kind, "--data", media / "sp", "--out", tmp_path / "x.safetensors",
                "--init", speech_model, *args)
    assert r.returncode == 1
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_codec_stages_beyond_the_model_are_refused(media, speech_model, tmp_path):
    r = _train_decoder(media, speech_model, tmp_path / "x.safetensors", "--codec-stages", "1,2.5")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == ("vqcodec: error: --codec-stages: 2.5 is not between 1 "
                                         "and the model's 2 stages")
    assert not (tmp_path / "x.safetensors").exists()


def test_train_refuses_an_output_folder_that_does_not_exist_or_a_folder_as_output(media, tmp_path):
    r = run_cli("train", "speech", "--data", media / "sp", "--out", tmp_path / "no" / "x.safetensors")
    assert r.returncode == 4
    assert r.stderr.decode().strip() == (f"vqcodec: error: --out {tmp_path / 'no' / 'x.safetensors'}: "
                                         f"directory {tmp_path / 'no'} does not exist")
    r = run_cli("train", "speech", "--data", media / "sp", "--out", tmp_path)
    assert r.returncode == 4
    assert r.stderr.decode().strip() == (f"vqcodec: error: --out {tmp_path} is a directory; "
                                         "name the model file to write")
