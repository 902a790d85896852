"""`train --only decoder`: a decoder retrained alone keeps its base model's codes, so the streams
of either model decode with the other, byte for byte the same indices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from safetensors import safe_open

from conftest import TINY_IMAGE, TINY_SPEECH, make_speechlike, run_cli

from vqcodec.models.modelfile import DECODER_TENSORS, load_model, read_metadata

SMALL_GAN = json.dumps({"periods": [2, 3], "resolutions": [[256, 64]], "period_channels": [4, 8],
                        "stft_channels": 4, "batch": 2, "seconds": 0.25})


def _tensors(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), "np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def _train_decoder(media: Path, init: Path, out: Path, *extra: str):
    return run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                   json.dumps(TINY_SPEECH), "--init", init, "--only", "decoder", "--steps", "3",
                   "--batch", "2", "--seconds", "0.5", "--lr", "1e-3", "-q", *extra)


def test_a_decoder_trained_alone_keeps_the_codes_and_reads_the_old_streams(media, speech_model,
                                                                          tmp_path):
    _upgrade(media, speech_model, tmp_path)


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
    assert any(not np.array_equal(base[k], new[k]) for k in new if k.startswith(DECODER_TENSORS) and k in base)

    b, m = load_model(speech_model), load_model(out)
    assert m.fingerprint != b.fingerprint and m.codes == b.fingerprint
    assert m.short_id == b.short_id == b.fingerprint[:4].hex()
    assert read_metadata(out)["codes"] == b.fingerprint.hex()
    summary = json.loads(read_metadata(out)["info"])["training"]
    assert summary["decoder_only"] == {"base": speech_model.name, "codes": b.short_id}
    assert summary["prior_bits_per_index_int"] > 0

    wav = tmp_path / "in.wav"
    sf.write(wav, make_speechlike(1.5, 16000, 9), 16000)
    streams = {}
    for name, model in (("base", speech_model), ("new", out)):
        streams[name] = tmp_path / f"{name}.vqc"
        assert run_cli("compress", wav, "-o", streams[name], "-m", model).returncode == 0
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


def test_decoder_only_from_a_checkpoint_uses_the_model_that_run_wrote(media, speech_model, tmp_path):
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


@pytest.mark.parametrize("args, message", [
    (["--only", "decoder"], "give --init"),
    (["--only", "encoder", "--init", "X"], "unknown --only 'encoder'"),
])
def test_only_is_checked_before_any_work(media, tmp_path, args, message):
    r = run_cli("train", "speech", "--data", media / "sp", "--out", tmp_path / "x.safetensors", *args)
    assert r.returncode == 1
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_image_decoder_alone(media, image_model, tmp_path):
    out = tmp_path / "img.safetensors"
    r = run_cli("train", "image", "--data", media / "img", "--out", out, "--config",
                json.dumps(TINY_IMAGE), "--init", image_model, "--only", "decoder", "--steps", "2",
                "--batch", "2", "--crop", "32", "--prior-examples", "4", "-q")
    assert r.returncode == 0, r.stderr.decode()
    base, new = _tensors(image_model), _tensors(out)
    assert all(np.array_equal(base[k], new[k]) for k in base if not k.startswith(DECODER_TENSORS))
    assert load_model(out).codes == load_model(image_model).fingerprint


def test_a_forged_codes_id_is_refused(speech_model, tmp_path):
    """The inherited id is covered by the fingerprint: claiming another model's codes is tampering."""
    from safetensors.numpy import save_file

    from vqcodec.errors import ModelError

    meta = read_metadata(speech_model)
    forged = tmp_path / "forged.safetensors"
    save_file(_tensors(speech_model), str(forged), metadata={**meta, "codes": "ab" * 32})
    with pytest.raises(ModelError, match="tampered"):
        load_model(forged)
