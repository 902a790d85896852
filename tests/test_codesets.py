"""A speech model's telephone code set (vqcodec/models/codesets.py): a second set of codebooks
and prior that a stream names by its own id. The wideband id stays, so streams made before the
set was added decode as they did; the encoder picks the set whose codebooks fit the first
records; `compress --codes` names one."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from safetensors.numpy import load_file, save_file

from conftest import make_speechlike, run_cli

from vqcodec.models import codesets
from vqcodec.models.modelfile import load_model, read_metadata, save_model


def _resealed(src: Path, out: Path, config=None, tensors=None) -> Path:
    """A copy of the model file `src` with its configuration and tensors changed by `config`
    and `tensors` (callables, in place) and its fingerprint made to match: damage that only a
    set's id or the configuration's checks can find."""
    from vqcodec.models.modelfile import _fingerprint

    meta, t = read_metadata(src), load_file(str(src))
    c = json.loads(meta["config"])
    if config:
        config(c)
    if tensors:
        tensors(t)
    meta["config"] = json.dumps(c, sort_keys=True)
    meta["fingerprint"] = _fingerprint("speech", meta["config"], t, meta.get("codes", "")).hex()
    save_file(t, str(out), metadata=meta)
    return out


def _donor(base: Path, out: Path, books: list[np.ndarray]) -> Path:
    """`base` with other codebooks (and its own prior), every other tensor as it is: a
    stand-in for the model that nb_codebooks.py and `train --steps 0` make, whose codes become
    the telephone set."""
    def swap(t: dict) -> None:
        for s, b in enumerate(books):
            t[f"net.quantizer.stages.{s}.codebook"] = b.astype(np.float16)

    return _resealed(base, out, tensors=swap)


def _encoder_latents(model, x: np.ndarray) -> np.ndarray:
    """The latents the encoder codes for `x` (16 kHz mono), as one (D, frames) array."""
    from vqcodec.codec.speech import SpeechEncoderStream

    seen: dict = {}
    enc = SpeechEncoderStream(model, 16000, 1, latents=seen, codes="wideband")
    enc.push(x[:, None])
    enc.finish()
    return np.concatenate([z for _, (z, _) in sorted(seen.items())], axis=1)


def _fitted_books(z: np.ndarray, k: int, stages: int) -> list[np.ndarray]:
    """Residual codebooks whose rows are frames of `z`: they code `z` better than any other."""
    books, rest = [], z.T.copy()
    for _ in range(stages):
        rows = rest[np.linspace(0, len(rest) - 1, k).astype(int)]
        idx = np.square(rest[:, None] - rows[None]).sum(-1).argmin(1)
        books.append(rows.astype(np.float32))
        rest = rest - rows[idx]
    return books


@pytest.fixture(scope="module")
def sets(speech_model, tmp_path_factory):
    """(speech, base model, model with a telephone set that fits `speech`, model with a
    telephone set that fits nothing)."""
    root = tmp_path_factory.mktemp("codesets")
    x = make_speechlike(2.5, 16000, 21)
    sf.write(root / "in.wav", x, 16000)
    base = load_model(speech_model)
    z = _encoder_latents(base, x)
    k, stages = base.config.codebook_size, base.config.stages
    fits = _donor(speech_model, root / "fits-donor.safetensors", _fitted_books(z, k, stages))
    far = _donor(speech_model, root / "far-donor.safetensors",
                 [c + 100 for c in base.runtime.codebooks])
    for name, donor in (("fits", fits), ("far", far)):
        codesets.add_set(base, load_model(donor), root / f"{name}.safetensors")
    return root / "in.wav", speech_model, root / "fits.safetensors", root / "far.safetensors"


def _compress(model: Path, src: Path, out: Path, *args: str) -> dict:
    r = run_cli("compress", src, "-m", model, "-o", out, "-f", "--json", *args)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def _decompress(model: Path, src: Path, out: Path) -> np.ndarray:
    r = run_cli("decompress", src, "-m", model, "-o", out, "-f")
    assert r.returncode == 0, r.stderr.decode()
    return sf.read(out, dtype="float32")[0]


def _stream_id(path: Path) -> str:
    from vqcodec.codec import container

    with open(path, "rb") as f:
        return container.read_header(f).fingerprint.hex()


def test_the_set_keeps_the_wideband_id_and_every_older_stream(sets, tmp_path):
    wav, base, fits, far = sets
    m, b = load_model(fits), load_model(base)
    assert m.short_id == b.short_id and m.codes == b.codes
    assert [s.set_name for s in m.code_sets] == ["wideband", "telephone"]
    tel = m.code_sets[1]
    assert tel.short_id != b.short_id
    assert tel.codes == codesets.set_id(codesets.STORED["telephone"], b.codes, m.tensors,
                                       m.config.telephone)
    assert read_metadata(fits)["telephone"] == tel.codes.hex()
    old = tmp_path / "old.vqc"
    _compress(base, wav, old)
    assert np.array_equal(_decompress(fits, old, tmp_path / "a.wav"),
                          _decompress(base, old, tmp_path / "b.wav"))
    # a set that fits nothing is never chosen: the streams are byte for byte the base's
    new = tmp_path / "new.vqc"
    assert _compress(far, wav, new)["codes"] == "wideband"
    assert new.read_bytes() == old.read_bytes()


def test_auto_picks_the_set_that_fits_and_the_stream_names_it(sets, tmp_path):
    from vqcodec.codec import container
    from vqcodec.codec.speech import SpeechDecoderStream

    wav, base, fits, _ = sets
    out = tmp_path / "t.vqc"
    report = _compress(fits, wav, out)
    assert report["codes"] == "telephone"
    m = load_model(fits)
    assert _stream_id(out) == m.code_sets[1].short_id
    decoded = _decompress(fits, out, tmp_path / "t.wav")
    # the same as decoding with the donor's codebooks and prior as a model's own
    donor = load_model(fits.parent / "fits-donor.safetensors")
    f = io.BytesIO(out.read_bytes())
    header = container.read_header(f)
    dec = SpeechDecoderStream(donor, header)
    recs = list(container.audio_records(f, header.params, dec.max_records))
    direct = dec.push(recs)[:, 0]
    assert np.abs(direct - decoded).max() <= 1 / 32768  # the file's 16-bit rounding
    # which set, not how good: the wideband set's stream decodes to other audio
    wide = tmp_path / "w.vqc"
    assert _compress(fits, wav, wide, "--codes", "wideband")["codes"] == "wideband"
    assert _stream_id(wide) == m.short_id
    assert not np.array_equal(_decompress(fits, wide, tmp_path / "w.wav"), decoded)


def test_the_choice_does_not_depend_on_how_the_input_arrives(sets):
    from vqcodec.codec.speech import SpeechEncoderStream

    wav, _, fits, _ = sets
    m = load_model(fits)
    x = sf.read(wav, dtype="float32")[0][:, None]
    whole = SpeechEncoderStream(m, 16000, 1, chunk_frames=25, batch_chunks=3)
    one = whole.push(x) + whole.finish()
    pieces = SpeechEncoderStream(m, 16000, 1, chunk_frames=25, batch_chunks=3)
    assert pieces.start() == b""  # the header waits for the first batch
    out = b"".join(pieces.push(x[i: i + 700]) for i in range(0, len(x), 700)) + pieces.finish()
    assert out == one and whole.model.set_name == "telephone"


def test_a_live_stream_sends_its_header_with_the_first_record_unless_the_set_is_named(sets, tmp_path):
    wav, _, fits, _ = sets
    raw = (sf.read(wav, dtype="int16")[0]).tobytes()
    for args, codes in (((), "telephone"), (("--codes", "wideband"), "wideband")):
        r = run_cli("compress", "-", "--raw", "--rate", "16000", "--stream", "-m", fits, "-c",
                    *args, input=raw)
        assert r.returncode == 0, r.stderr.decode()
        (tmp_path / "s.vqc").write_bytes(r.stdout)
        want = [s.short_id for s in load_model(fits).code_sets if s.set_name == codes]
        assert [_stream_id(tmp_path / "s.vqc")] == want
        assert len(_decompress(fits, tmp_path / "s.vqc", tmp_path / "s.wav")) == len(raw) // 2


def test_codes_option_errors(sets, speech_model, image_model, photo, tmp_path):
    wav, base, fits, _ = sets
    out = tmp_path / "x.vqc"
    for model, args, message in (
            (base, ("--codes", "telephone"), "has no telephone code set"),
            (fits, ("--codes", "narrow"), "unknown --codes 'narrow': use auto, wideband, telephone")):
        r = run_cli("compress", wav, "-m", model, "-o", out, *args)
        assert r.returncode == 1 and not out.exists()
        assert message in r.stderr.decode() and len(r.stderr.decode().strip().splitlines()) == 1
    r = run_cli("compress", photo, "-m", image_model, "-o", out, "--codes", "telephone")
    assert r.returncode == 1 and "--codes applies to speech" in r.stderr.decode()


def test_a_stream_of_a_set_the_model_lacks_is_refused_by_name(sets, tmp_path):
    wav, base, fits, _ = sets
    out = tmp_path / "t.vqc"
    _compress(fits, wav, out, "--codes", "telephone")
    r = run_cli("decompress", out, "-m", base, "-o", tmp_path / "t.wav")
    tel = load_model(fits).code_sets[1].short_id
    assert r.returncode != 0 and not (tmp_path / "t.wav").exists()
    assert f"stream was made by model {tel}, but model" in r.stderr.decode()


def test_a_changed_set_or_id_is_refused_on_loading(sets, tmp_path):
    from vqcodec.errors import ModelError

    _, _, fits, _ = sets
    meta, tensors = read_metadata(fits), load_file(str(fits))
    books = tensors["telephone.codebooks"].copy()
    books[0, 0, 0] += 1
    cases = {"tensor": ({**tensors, "telephone.codebooks": books}, meta),
             "id": (tensors, {**meta, "telephone": "0" * 64}),
             "no id": (tensors, {k: v for k, v in meta.items() if k != "telephone"})}
    for name, (t, m) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(t, str(path), metadata=m)
        with pytest.raises(ModelError, match="tampered|does not match"):
            load_model(path)


def test_a_decoder_retrained_alone_keeps_the_set(sets, media, tmp_path):
    from conftest import TINY_SPEECH

    wav, _, fits, _ = sets
    out = tmp_path / "dec.safetensors"
    r = run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                json.dumps(TINY_SPEECH), "--init", fits, "--only", "decoder", "--steps", "2",
                "--batch", "2", "--seconds", "0.5", "-q")
    assert r.returncode == 0, r.stderr.decode()
    old, new = load_model(fits), load_model(out)
    assert [s.codes for s in new.code_sets] == [s.codes for s in old.code_sets]
    stream = tmp_path / "t.vqc"
    _compress(fits, wav, stream)
    assert len(_decompress(out, stream, tmp_path / "t.wav")) == len(sf.read(wav)[0])


def test_a_copy_of_a_model_with_a_set_is_found_by_either_id(sets, tmp_path, monkeypatch):
    from vqcodec.models import registry

    wav, _, fits, _ = sets
    shutil.copy(fits, tmp_path / "mine.safetensors")
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    m = load_model(fits)
    for s in m.code_sets:
        assert registry.find_by_fingerprint(s.codes[:4]) == tmp_path / "mine.safetensors"


# -- the choice depends on the input alone; files and views keep the sets right ---------------
@pytest.fixture(scope="module")
def flip(speech_model, tmp_path_factory):
    """A model whose telephone set fits clip `a`, and an input whose first second (another
    voice) the wideband set codes better, while the telephone set fits the rest: a choice made
    on more than the first record would go the other way."""
    model, a = _fitted_to_a(speech_model, tmp_path_factory.mktemp("flip"))
    return model, np.concatenate([make_speechlike(1.0, 16000, 3), a, a, a])


def _fitted_to_a(speech_model: Path, root: Path) -> tuple[Path, np.ndarray]:
    """`speech_model` with a telephone set fitted to a clip `a` (its own codebooks' rows are
    frames of `a`), and `a`."""
    base = load_model(speech_model)
    a = make_speechlike(3.0, 16000, 21)
    books = _fitted_books(_encoder_latents(base, a), base.config.codebook_size, base.config.stages)
    donor = load_model(_donor(speech_model, root / "donor.safetensors", books))
    codesets.add_set(base, donor, root / "m.safetensors", replace=True)  # the bundled model has one
    return root / "m.safetensors", a


def test_a_file_chooses_from_its_first_seconds_a_live_stream_from_its_first_chunk(flip, tmp_path):
    """The flip input's first second fits the wideband set, the rest the telephone set. A file
    (or stdin without --stream) chooses from its first 5 s; a --stream, which must send its
    first chunk at once, from that chunk. Each is the same however the input arrives."""
    model, x = flip
    pcm = (x * 32767).astype("<i2").tobytes()
    common = ("--raw", "--rate", "16000", "-m", model, "--chunk-ms", "1000", "--full-context")
    m = load_model(model)
    for args, want in (((), "telephone"), (("--stream",), "wideband")):
        r = run_cli("compress", "-", *common, *args, "-c", input=pcm)
        assert r.returncode == 0, r.stderr.decode()
        (tmp_path / "s.vqc").write_bytes(r.stdout)
        assert _stream_id(tmp_path / "s.vqc") == [s for s in m.code_sets if s.set_name == want][0].short_id


@pytest.mark.parametrize("live", [False, True])
def test_encoder_stream_independent_of_batch_chunks(flip, live):
    from vqcodec.codec.speech import SpeechEncoderStream

    model, x = flip
    m = load_model(model)
    outs = {}
    for batch in (1, 4, 16):
        e = SpeechEncoderStream(m, 16000, 1, chunk_frames=50, batch_chunks=batch, live=live)
        outs[batch] = b"".join(e.push(x[i: i + 3000, None]) for i in range(0, len(x), 3000))
        outs[batch] += e.finish()
    assert outs[1] == outs[4] == outs[16]


@pytest.mark.parametrize("chunk", [10, 50])
def test_silence_before_the_speech_does_not_choose_a_files_set(flip, chunk):
    """Digital silence in front (as a recorded call often has) is coded better by the wideband
    set and used to tip the choice; only the window's frames within ACTIVE_DB of its loudest
    choose now."""
    from vqcodec.codec.speech import SpeechEncoderStream

    model, _ = flip
    m = load_model(model)
    a = make_speechlike(3.0, 16000, 21)  # the clip the telephone set was fitted to
    chosen = {}
    for lead in (0.0, 0.1, 1.0, 2.0):
        x = np.concatenate([np.zeros(int(lead * 16000), np.float32), a, a])
        e = SpeechEncoderStream(m, 16000, 1, chunk_frames=chunk)
        e.push(x[:, None])
        e.finish()
        chosen[lead] = e.model.set_name
    assert set(chosen.values()) == {"telephone"}, chosen


@pytest.fixture(scope="module")
def bundled_flip(tmp_path_factory):
    """The bundled model with a telephone set fitted to clip `a` instead of its own, and `a`."""
    from vqcodec.models.registry import MODELS_DIR

    return _fitted_to_a(MODELS_DIR / "speech-default.safetensors",
                        tmp_path_factory.mktemp("bundled-flip"))


def test_kbps_gives_the_most_stages_that_fit(bundled_flip):
    """The set is chosen at all of the model's stages, so it is the same for every stage
    count, a stream's size grows with them, and --kbps finds the most that fit (a set chosen
    per stage count made 2.3125 stages smaller than 2, and --kbps stopped at 1.53)."""
    from vqcodec import api
    from vqcodec.media import AudioInfo

    model, a = bundled_flip
    x = np.concatenate([0.5 * make_speechlike(1.0, 16000, 3) + 0.5 * a[:16000], a]).astype(np.float32)

    def code(**kw):
        out = io.BytesIO()
        rep = api.compress_audio_to(iter([x[:, None]]), AudioInfo(16000, 1, len(x)), out, model, **kw)
        return out.getvalue(), rep

    sizes = {s: len(code(stages=s)[0]) for s in (1, 1.5, 2, 2.3125, 2.5, 3)}
    assert list(sizes.values()) == sorted(sizes.values())
    for s, n in sizes.items():
        data, rep = code(kbps=n * 8 / (len(x) / 16000) / 1000)
        assert len(data) <= n and rep.extra["stages"] >= s - 0.1, (sizes, s, rep.extra)


def test_info_does_not_depend_on_the_bundled_model_files(tmp_path, monkeypatch):
    """`info` reads a stream without a model; naming the bundled model is an extra, so a
    bundled file it cannot read (a git-lfs pointer, a truncated copy) must not stop it."""
    from vqcodec.codec.describe import describe
    from vqcodec.models import registry

    from conftest import ROOT

    for name in registry.bundled_names():
        (tmp_path / f"{name}.safetensors").write_text(
            "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 8593748\n")
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    for f in ("speech.vqc", "image.vqc"):
        with open(ROOT / "tests" / "golden" / f, "rb") as stream:
            d = describe(stream)
        assert "error" not in d and d["records"] > 0 and "codes" not in d, d


def test_saving_the_networks_of_a_model_with_a_set_gives_a_loadable_file(flip, tmp_path):
    """samples/recipes/nb_codebooks.py save_init (phase 9 of train_speech_real.sh, run on the
    bundled model that now has a set), and `train --config` with a model's own config: the
    saved config names a telephone set whose tensors are not in the file."""
    model, _ = flip
    m = load_model(model)
    save_model(tmp_path / "init.safetensors", "speech", m.net, m.prior, {})
    assert [s.set_name for s in load_model(tmp_path / "init.safetensors").code_sets] == ["wideband"]


def test_train_only_decoder_with_config_dropping_the_set_writes_a_loadable_model(flip, media, tmp_path):
    from conftest import TINY_SPEECH

    model, _ = flip
    out = tmp_path / "o.safetensors"
    r = run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                json.dumps({**TINY_SPEECH, "telephone": None}), "--init", model,
                "--only", "decoder", "--steps", "2", "--batch", "2", "--seconds", "0.5", "-q")
    assert r.returncode == 0, r.stderr.decode()
    new, old = load_model(out), load_model(model)
    assert [s.codes for s in new.code_sets] == [s.codes for s in old.code_sets]


def test_a_set_view_knows_the_model_sets(flip):
    """The model a telephone stream decodes with (api.model_for_stream) handed to the encoder,
    e.g. to re-code what it decoded: its sets must be the model's."""
    from vqcodec.codec.speech import SpeechEncoderStream

    model, x = flip
    m = load_model(model)
    tel = m.code_set(m.code_sets[1].codes[:4])
    assert [s.codes for s in tel.code_sets] == [s.codes for s in m.code_sets]
    e = SpeechEncoderStream(tel, 16000, 1, codes="wideband")
    assert e.model.codes == m.codes


def test_a_telephone_prior_with_another_configuration_has_another_id(flip, tmp_path):
    """The set's id covers its prior's configuration: a file whose telephone prior differs
    only there (the same tensors) cannot pass for the set a stream names."""
    from vqcodec.errors import ModelError

    model, _ = flip

    def reverse(c: dict) -> None:
        c["telephone"]["dilations"] = c["telephone"]["dilations"][::-1]

    with pytest.raises(ModelError, match="telephone code set id mismatch"):
        load_model(_resealed(model, tmp_path / "other.safetensors", config=reverse))


def test_decompress_reports_the_code_set(flip, tmp_path):
    model, x = flip
    sf.write(tmp_path / "in.wav", x, 16000)
    assert run_cli("compress", tmp_path / "in.wav", "-m", model, "-o", tmp_path / "t.vqc",
                   "--codes", "telephone").returncode == 0
    r = run_cli("decompress", tmp_path / "t.vqc", "-m", model, "-o", tmp_path / "t.wav", "--json")
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout).get("codes") == "telephone"


def test_the_python_api_names_a_set(sets):
    from vqcodec import api
    from vqcodec.errors import UsageError

    wav, _, fits, _ = sets
    x = sf.read(wav, dtype="float32")[0]
    m = load_model(fits)
    for codes, want in ((None, "telephone"), ("telephone", "telephone"), ("wideband", "wideband")):
        data = api.compress(x, fits, rate=16000, codes=codes)
        assert data[3:7] == [s for s in m.code_sets if s.set_name == want][0].codes[:4]
        assert len(api.decompress(data, fits)[0]) == len(x)
    with pytest.raises(UsageError, match="codes= applies to speech"):
        api.compress(np.zeros((8, 8, 3), np.uint8), codes="telephone")
    with pytest.raises(UsageError, match="has no telephone code set"):
        api.compress(x, sets[1], rate=16000, codes="telephone")  # the base: no such set


def test_info_names_the_bundled_model_and_set_of_a_stream(tmp_path):
    """`vqcodec info` reads no model, but names the bundled model and code set a stream's id
    belongs to (from the models' metadata)."""
    raw = (make_speechlike(1.2, 8000, 4) * 32767).astype("<i2").tobytes()
    for codes in ("wideband", "telephone"):
        out = tmp_path / f"{codes}.vqc"
        r = run_cli("compress", "-", "--raw", "--rate", "8000", "-o", out, "--codes", codes,
                    input=raw)
        assert r.returncode == 0, r.stderr.decode()
        r = run_cli("info", out, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["codes"] == f"{codes} (speech-default)"


def test_eval_speech_measures_a_named_set(sets, tmp_path):
    wav, base, fits, _ = sets
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(wav, folder / "a.wav")
    for codes in ("wideband", "telephone"):
        r = run_cli("eval", "speech", folder, "-m", fits, "--codes", codes, "--stages", "2",
                    "--no-peers", "--json", "-q", "-j", "1")
        assert r.returncode == 0, r.stderr.decode()
        result = json.loads(r.stdout)
        assert [row["codes"] for row in result["rows"]] == [codes]
        assert result["averages"][0]["codes"] == {codes: 1}
    for model, args, message in ((base, ("--codes", "telephone"), "has no telephone code set"),
                                 (fits, ("--codes", "wideband", "--record"), "not with --codes")):
        r = run_cli("eval", "speech", folder, "-m", model, "--no-peers", "-q", *args)
        assert r.returncode == 1 and message in r.stderr.decode()
        assert len(r.stderr.decode().strip().splitlines()) == 1


# -- a newer prior for the model's own codebooks (the stored wideband set) --------------------
def _prior_donor(base: Path, out: Path) -> Path:
    """`base` with another prior for the same codebooks (its heads' biases rotated: other
    probabilities, the same shapes): a stand-in for `train --init BASE --steps 0`."""
    def rotate(t: dict) -> None:
        for k in [k for k in t if k.startswith("prior.o2_") and k.endswith(".bias")]:
            t[k] = np.roll(t[k], 7)

    return _resealed(base, out, tensors=rotate)


@pytest.fixture(scope="module")
def wide(sets, tmp_path_factory):
    """(speech, the model with a telephone set that fits it, the same with a newer wideband
    prior)."""
    wav, _, fits, _ = sets
    root = tmp_path_factory.mktemp("wide")
    donor = load_model(_prior_donor(fits, root / "donor.safetensors"))
    codesets.add_set(load_model(fits), donor, root / "wide.safetensors", "wideband")
    return wav, fits, root / "wide.safetensors"


def test_a_newer_wideband_prior_codes_the_same_indices_under_its_own_id(wide, tmp_path):
    wav, fits, new = wide
    m, old = load_model(new), load_model(fits)
    assert m.codes == old.codes  # the model's id: its first prior's streams
    assert [s.set_name for s in m.code_sets] == ["wideband", "telephone"]
    wb, tel = m.code_sets
    assert wb.codes == codesets.set_id(codesets.STORED["wideband"], old.codes, m.tensors,
                                       m.config.wideband)
    assert read_metadata(new)["wideband"] == wb.codes.hex()
    assert tel.codes == old.code_sets[1].codes  # the telephone set's id stays
    a, b = tmp_path / "a.vqc", tmp_path / "b.vqc"
    assert _compress(fits, wav, a, "--codes", "wideband")["codes"] == "wideband"
    assert _compress(new, wav, b, "--codes", "wideband")["codes"] == "wideband"
    assert _stream_id(a) == old.short_id and _stream_id(b) == wb.short_id
    assert a.read_bytes() != b.read_bytes()  # other probabilities, other bytes...
    # ...for the same indices: the same audio, and the older stream decodes as it did
    ya = _decompress(fits, a, tmp_path / "a.wav")
    assert np.array_equal(_decompress(new, a, tmp_path / "a2.wav"), ya)
    assert np.array_equal(_decompress(new, b, tmp_path / "b.wav"), ya)
    r = run_cli("decompress", b, "-m", fits, "-o", tmp_path / "b2.wav")
    assert r.returncode != 0 and not (tmp_path / "b2.wav").exists()
    assert f"stream was made by model {wb.short_id}, but model" in r.stderr.decode()


def test_the_telephone_set_codes_its_own_default_stages(wide, tmp_path):
    from vqcodec.models.modelfile import set_default_stages

    wav, _, new = wide
    m = tmp_path / "m.safetensors"
    shutil.copy(new, m)
    set_default_stages(m, 1.5, "telephone")
    set_default_stages(m, 1.75)
    loaded = load_model(m)
    assert [s.codes for s in loaded.code_sets] == [s.codes for s in load_model(new).code_sets]
    t = _compress(m, wav, tmp_path / "t.vqc")  # auto: this input fits the telephone set
    w = _compress(m, wav, tmp_path / "w.vqc", "--codes", "wideband")
    assert (t["codes"], t["stages"], w["codes"], w["stages"]) == ("telephone", 1.5, "wideband", 1.75)
    r = run_cli("info", tmp_path / "t.vqc", "--json")
    assert json.loads(r.stdout)["share"] == 128, r.stdout  # the stream holds it
    r = run_cli("models", "--json")  # the bundled ones list both ids and defaults
    assert r.returncode == 0
    assert all({"wideband_id", "telephone_id", "telephone_default"} <= set(row)
               for row in json.loads(r.stdout))


def test_a_changed_wideband_prior_is_refused_and_a_donor_with_other_codebooks_too(wide, sets, tmp_path):
    from vqcodec.errors import ModelError

    _, _, new = wide
    _, _, fits, far = sets

    def bump(t: dict) -> None:  # a file whose fingerprint covers it: only the id can tell
        key = next(k for k in t if k.startswith("wideband.prior.") and k.endswith("bias"))
        t[key] = t[key] + 1

    with pytest.raises(ModelError, match="wideband code set id mismatch"):
        load_model(_resealed(new, tmp_path / "t.safetensors", tensors=bump))
    donor = load_model(fits.parent / "fits-donor.safetensors")  # other codebooks
    with pytest.raises(ModelError, match="codebooks are not"):
        codesets.add_set(load_model(fits), donor, tmp_path / "x.safetensors", "wideband")
    assert not (tmp_path / "x.safetensors").exists()


def test_every_id_of_a_model_with_a_newer_prior_finds_it(wide, tmp_path, monkeypatch):
    from vqcodec.models import registry

    _, _, new = wide
    shutil.copy(new, tmp_path / "mine.safetensors")
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    m = load_model(new)
    names = {}
    for codes in [m.codes] + [s.codes for s in m.code_sets]:
        path, names[codes[:4].hex()] = registry.find_stream_model(codes[:4])
        assert path == tmp_path / "mine.safetensors"
        assert m.code_set(codes[:4]).codes == codes
    assert sorted(names.values()) == ["telephone", "wideband", "wideband, first prior"]


def test_a_decoder_retrained_alone_keeps_the_newer_prior(wide, media, tmp_path):
    from conftest import TINY_SPEECH

    _, _, new = wide
    out = tmp_path / "dec.safetensors"
    r = run_cli("train", "speech", "--data", media / "sp", "--out", out, "--config",
                json.dumps(TINY_SPEECH), "--init", new, "--only", "decoder", "--steps", "2",
                "--batch", "2", "--seconds", "0.5", "-q")
    assert r.returncode == 0, r.stderr.decode()
    assert [s.codes for s in load_model(out).code_sets] == [s.codes for s in load_model(new).code_sets]


def test_eval_runs_each_set_at_its_default_and_records_that(wide, tmp_path):
    """With the telephone set's default apart from the wideband one, "vqcodec default" is what
    compress does without --stages: each clip at its set's default; --record takes it."""
    from vqcodec.models.modelfile import set_default_stages

    wav, _, new = wide
    m = tmp_path / "m.safetensors"
    shutil.copy(new, m)
    set_default_stages(m, 1.5, "telephone")
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(wav, folder / "a.wav")  # the telephone set fits it
    r = run_cli("eval", "speech", folder, "-m", m, "--stages", "1,2", "--no-peers", "--json",
                "-q", "-j", "1", "--record")
    assert r.returncode == 0, r.stderr.decode()
    rows = {row["codec"]: row for row in json.loads(r.stdout)["rows"]}
    assert set(rows) == {"vqcodec default", "vqcodec 1st", "vqcodec 2st"}
    assert rows["vqcodec default"]["codes"] == "telephone"
    assert rows["vqcodec 1st"]["bytes"] < rows["vqcodec default"]["bytes"] < rows["vqcodec 2st"]["bytes"]
    measured = load_model(m).info["measured"]
    assert "(vqcodec default, 1 clips)" in measured["quality"]
    assert "kbit/s by default" in measured["rate"]


def test_adding_a_set_the_model_has_is_refused_unless_replaced(wide, sets, tmp_path):
    """Replacing a set would orphan its streams: refused, unless asked for (which also drops a
    telephone default chosen for the old set)."""
    from vqcodec.errors import ModelError
    from vqcodec.models.modelfile import set_default_stages

    _, fits, new = wide
    m = tmp_path / "m.safetensors"
    shutil.copy(new, m)
    set_default_stages(m, 1.5, "telephone")
    donor = load_model(_prior_donor(fits, tmp_path / "d.safetensors"))
    for name in ("wideband", "telephone"):
        with pytest.raises(ModelError, match=f"already has a {name} code set"):
            codesets.add_set(load_model(m), donor, tmp_path / "x.safetensors", name)
    assert not (tmp_path / "x.safetensors").exists()
    codesets.add_set(load_model(m), donor, tmp_path / "x.safetensors", "telephone", replace=True)
    x = load_model(tmp_path / "x.safetensors")
    assert x.config.telephone_stages is None
    assert x.code_sets[0].codes == load_model(m).code_sets[0].codes  # the wideband set stays


def test_reports_name_a_first_prior_stream_and_refusals_name_every_id(wide, tmp_path):
    wav, fits, new = wide
    old = tmp_path / "old.vqc"
    _compress(fits, wav, old, "--codes", "wideband")  # a stream of the first prior
    r = run_cli("decompress", old, "-m", new, "-o", tmp_path / "o.wav", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["codes"] == "wideband, first prior"
    import dataclasses

    from vqcodec import api
    from vqcodec.codec import container
    from vqcodec.errors import ModelError

    with open(old, "rb") as f:
        stranger = dataclasses.replace(container.read_header(f), fingerprint=b"\xde\xad\xbe\xef")
    m = load_model(new)
    with pytest.raises(ModelError, match="stream was made by model deadbeef") as e:
        api.model_for_stream(stranger, new)
    assert all(s in str(e.value) for s in [m.short_id] + [c.short_id for c in m.code_sets])


def test_bad_set_settings_are_refused(wide, sets, tmp_path):
    from vqcodec.errors import ModelError
    from vqcodec.models.modelfile import set_default_stages

    _, fits, new = wide
    base = sets[1]
    plain = tmp_path / "plain.safetensors"
    shutil.copy(base, plain)
    with pytest.raises(ModelError, match="has no telephone code set"):
        set_default_stages(plain, 1.5, "telephone")
    for key, value in (("telephone_stages", 7), ("telephone_stages", "2"), ("wideband", [1, 2])):
        bad = _resealed(new, tmp_path / "bad.safetensors", config=lambda c: c.update({key: value}))
        with pytest.raises(ModelError, match="does not match its configuration"):
            load_model(bad)
