"""Training data read on demand: packs, folders, worker processes, DDP shares, bad files."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import TINY_SPEECH, make_image, make_speechlike, run_cli
from vqcodec.errors import BadInputError
from vqcodec.train.data import ImageCrops, SpeechSegments
from vqcodec.train.loader import Batches
from vqcodec.train.packs import open_pack, write_pack


@pytest.fixture
def speech_dir(tmp_path):
    d = tmp_path / "speech"
    (d / "sub").mkdir(parents=True)
    for i in range(5):
        sf.write(d / f"{i}.wav", make_speechlike(1.0 + 0.5 * i, 16000, i), 16000)
    sf.write(d / "sub" / "low.flac", make_speechlike(2.0, 8000, 9), 8000)  # resampled on read
    return d


def _corrupt(d):
    (d / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really a wave file")


def test_speech_pack_holds_every_file_resampled_and_lists_what_it_skipped(speech_dir, tmp_path):
    _corrupt(speech_dir)
    out = tmp_path / "sp.npy"
    calls = []
    index = write_pack("speech", [speech_dir], out, rate=16000, progress=lambda *a: calls.append(a))
    assert index["count"] == 6 and [s["source"] for s in index["skipped"]] == [str(speech_dir / "broken.wav")]
    assert calls[-1][:2] == (7, 7) and [c[0] for c in calls] == list(range(8))
    pack = open_pack(out)
    assert pack.kind == "speech" and pack.sample_rate == 16000 and len(pack) == 6
    x, _ = sf.read(speech_dir / "2.wav", dtype="int16")
    assert np.array_equal(pack.example(pack.sources.index(str(speech_dir / "2.wav"))), x)
    low = pack.example(pack.sources.index(str(speech_dir / "sub" / "low.flac")))
    assert len(low) == 32000  # 2 s at 8 kHz -> 16 kHz
    # the training sampler reads segments of the pack exactly as they were packed
    seg = SpeechSegments(out, 16000, 0.5, seed=0)
    i = pack.sources.index(str(speech_dir / "2.wav"))
    assert np.array_equal(seg.examples.segment(i, 100, 50), x[100:150] / np.float32(32768))


def test_image_pack_keeps_each_image_whole(tmp_path):
    d = tmp_path / "img"
    d.mkdir()
    for i, (w, h) in enumerate([(160, 128), (96, 200), (300, 90)]):
        make_image(d / f"{i}.png", w, h, i)
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "im.npy"
    index = write_pack("image", [d], out)
    assert index["count"] == 3 and len(index["skipped"]) == 1
    pack = open_pack(out)
    from PIL import Image

    for i in range(3):
        ref = np.asarray(Image.open(d / f"{i}.png").convert("RGB"))
        assert np.array_equal(pack.example(pack.sources.index(str(d / f"{i}.png"))), ref)
    crops = ImageCrops(out, 64, seed=0)
    assert crops.examples.min_side == 90 and crops.batch(3).shape == (3, 3, 64, 64)


def test_memory_stays_bounded_on_a_corpus_much_larger_than_the_bound(tmp_path):
    """80 MB of audio and 40 MB of pixels on disk; sampling them holds a few MB."""
    d = tmp_path / "big"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):  # 20 files x 2 M samples (4 MB each as int16, 8 MB as float32)
        sf.write(d / f"{i}.wav", (rng.standard_normal(2_000_000) * 3000).astype(np.int16), 16000)
    imgs = tmp_path / "photos"
    imgs.mkdir()
    from PIL import Image

    for i in range(10):  # 10 x 1.2 MB of pixels
        Image.fromarray(rng.integers(0, 255, (600, 700, 3), dtype=np.uint8)).save(imgs / f"{i}.bmp")
    tracemalloc.start()
    seg = SpeechSegments(d, 16000, 1.0, seed=0)
    for _ in range(5):
        assert seg.batch(16).shape == (16, 16000)
    crops = ImageCrops(imgs, 64, seed=0)
    for _ in range(3):
        crops.batch(16)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 12e6, f"{peak / 1e6:.1f} MB"  # loading it all would need 160 MB + 12 MB


def test_ranks_get_disjoint_shares_and_workers_the_same_batches_in_order(speech_dir):
    shares = [SpeechSegments(speech_dir, 16000, 0.25, seed=7, rank=r, world=2).examples.ids for r in (0, 1)]
    assert not set(shares[0]) & set(shares[1]) and len(set(shares[0]) | set(shares[1])) == 6
    sampler = SpeechSegments(speech_dir, 16000, 0.25, seed=7)
    runs = []
    for workers in (0, 2, 2):
        it = Batches(sampler, 4, start=3, workers=workers)
        runs.append([next(it)[0] for _ in range(5)])
        it.close()
    for other in runs[1:]:  # two worker processes: the same batches as one process, reproducibly
        assert all(torch.equal(a, b) for a, b in zip(runs[0], other))
    assert not torch.equal(runs[0][0], runs[0][1])  # and successive batches differ
    # batch k does not depend on where the stream started (what resuming relies on)
    again = Batches(sampler, 4, start=5, workers=0)
    assert torch.equal(next(again)[0], runs[0][2])


def test_too_few_examples_for_the_ranks_is_an_error(speech_dir):
    with pytest.raises(BadInputError, match="cannot be shared among 8 ranks"):
        SpeechSegments(speech_dir, 16000, 0.25, rank=0, world=8)


def test_a_file_that_breaks_while_training_is_skipped_and_counted(speech_dir):
    seg = SpeechSegments(speech_dir, 16000, 0.5, seed=0)
    victim = speech_dir / "3.wav"
    victim.write_bytes(victim.read_bytes()[:40])  # truncated after the scan
    for _ in range(10):
        assert np.isfinite(seg.batch(8).numpy()).all()
    assert list(seg.bad) == [str(victim)]


@pytest.mark.slow
def test_training_skips_corrupt_files_and_counts_them(speech_dir, tmp_path):
    _corrupt(speech_dir)
    out = tmp_path / "m.safetensors"
    r = run_cli("train", "speech", "--data", speech_dir, "--out", out, "--config", json.dumps(TINY_SPEECH),
                "--steps", "3", "--prior-steps", "2", "--batch", "2", "--seconds", "0.5",
                "--prior-examples", "4", "--workers", "2")
    assert r.returncode == 0, r.stderr.decode()
    assert f"vqcodec: warning: skipped {speech_dir / 'broken.wav'}" in r.stderr.decode()
    log = [json.loads(line) for line in open(str(out) + ".log.jsonl")]
    summary = [rec for rec in log if rec["stage"] == "summary"][0]
    assert summary["skipped_files"] == 1 and 0 <= summary["data_wait_percent"] <= 100
    assert [rec["source"] for rec in log if rec["stage"] == "skipped"] == [str(speech_dir / "broken.wav")]


def test_a_corpus_without_a_usable_file_fails_before_training(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    _corrupt(d)
    out = tmp_path / "m.safetensors"
    r = run_cli("train", "speech", "--data", d, "--out", out, "--config", json.dumps(TINY_SPEECH),
                "--steps", "3", "--prior-steps", "2")
    assert r.returncode == 2 and "no usable audio clips" in r.stderr.decode() and "1 unreadable" in r.stderr.decode()
    assert not out.exists() and not (tmp_path / "m.safetensors.log.jsonl").exists()


def test_pack_command_writes_a_pack_and_refuses_to_overwrite(speech_dir, tmp_path):
    out = tmp_path / "p.npy"
    r = run_cli("pack", "speech", speech_dir, "-o", out)
    assert r.returncode == 0 and "packed 6 files" in r.stderr.decode()
    assert json.loads(out.with_suffix(".json").read_text())["count"] == 6
    r = run_cli("pack", "speech", speech_dir, "-o", out)
    assert r.returncode == 4 and r.stderr.decode().count("\n") == 1 and "already exists" in r.stderr.decode()
    assert run_cli("pack", "video", speech_dir, "-o", tmp_path / "v.npy").returncode == 1
    r = run_cli("pack", "image", speech_dir, "-o", tmp_path / "i.npy")
    assert r.returncode == 2 and "no " in r.stderr.decode() and not (tmp_path / "i.npy").exists()


def test_a_pack_at_another_rate_is_refused(speech_dir, tmp_path):
    out = tmp_path / "p8.npy"
    write_pack("speech", [speech_dir], out, rate=8000)
    with pytest.raises(BadInputError, match="packed at 8000 Hz.*--rate 16000"):
        SpeechSegments(out, 16000)


def test_image_augmentation_scales_jitters_and_adds_flat_colour_fields(tmp_path):
    from PIL import Image

    from vqcodec.train import augment

    ramp = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (256, 256, 3)).copy()
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    crops = ImageCrops(tmp_path, 64, seed=0)
    rng = np.random.default_rng(0)
    cuts = [crops.cut(0, None, rng) for _ in range(400)]
    assert all(c.shape == (64, 64, 3) and c.dtype == np.uint8 for c in cuts)
    flats = sum(len(np.unique(c.reshape(-1, 3), axis=0)) <= 4 for c in cuts)  # 1-4 flat colours
    assert 8 <= flats <= 40  # about P_FLAT of 400 (a crop of the ramp has dozens of colours)
    # scaled-down crops span more of the ramp than a 64-pixel crop can
    spans = [np.ptp(augment.crop(ramp, 64, rng)[0, :, 0].astype(int)) for _ in range(200)]
    assert max(spans) > 90 and min(spans) < 70
    fields = [augment.flat_field(32, rng) for _ in range(300)]
    colours = {tuple(px) for f in fields for px in f.reshape(-1, 3)[::97]}
    assert (0, 0, 255) in colours or (255, 0, 0) in colours or (0, 255, 0) in colours
    assert any(len(np.unique(f.reshape(-1, 3), axis=0)) > 1 for f in fields)  # edges too
    j = augment.jitter(np.full((8, 8, 3), 100, dtype=np.uint8), np.random.default_rng(1))
    assert j.dtype == np.uint8 and (j == j[0, 0]).all()  # a flat image stays flat
    # validation's crops are plain: a 64-pixel window of the ramp, possibly mirrored
    plain = ImageCrops(tmp_path, 64, seed=0, augment=False)
    for _ in range(50):
        row = plain.cut(0, None, rng)[0, :, 0].astype(int)
        assert abs(row[-1] - row[0]) == 63 and (np.abs(np.diff(row)) == 1).all()


def test_images_are_picked_in_proportion_to_their_area(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    make_image(d / "big.png", 400, 300, 0)  # 120 k pixels
    for i in range(4):
        make_image(d / f"small{i}.png", 100, 100, i + 1)  # 10 k pixels each
    ex = ImageCrops(d, 64, seed=0).examples
    rng = np.random.default_rng(0)
    picks = [ex.sources[ex.pick(rng)] for _ in range(4000)]
    share = sum(p.endswith("big.png") for p in picks) / len(picks)
    assert abs(share - 120 / 160) < 0.03


def test_prior_chunks_are_the_codecs_records_of_a_file(tmp_path):
    """The prior learns from what the codec codes: 1 s records from a file's start, the last
    one short (the old 4 s windows were 38 % zero padding on real speech)."""
    d = tmp_path / "one"
    d.mkdir()
    clip = make_speechlike(2.5, 16000, 3)
    sf.write(d / "a.wav", clip, 16000, subtype="FLOAT")
    x, n = SpeechSegments(d, 16000, seed=0).chunks(40, 16000)
    assert x.shape == (40, 16000) and set(n.tolist()) == {16000, 8000}
    for row, k in zip(x.numpy(), n):
        assert not row[k:].any()
        starts = [s for s in (0, 16000, 32000) if len(clip[s:s + k]) == k]
        gains = [np.dot(row[:k], clip[s:s + k]) / np.dot(clip[s:s + k], clip[s:s + k]) for s in starts]
        assert any(np.allclose(row[:k], g * clip[s:s + k], atol=1e-5) for g, s in zip(gains, starts))


def test_speech_prior_examples_mark_frames_past_the_end_and_the_loss_ignores_them(tmp_path):
    from vqcodec import kinds
    from vqcodec.eval.metrics import int_prior_bits
    from vqcodec.train.options import TrainOptions

    d = tmp_path / "one"
    d.mkdir()
    sf.write(d / "a.wav", make_speechlike(1.3, 16000, 4), 16000)  # records of 50 and 15 frames
    k = kinds.get("speech")
    cfg = k.config(TINY_SPEECH)
    torch.manual_seed(0)
    net = k.network(cfg).eval()
    versions = torch.cat(k.prior_examples(net, SpeechSegments(d, 16000, seed=1),
                                          TrainOptions("speech", str(d), tmp_path / "m"), cfg,
                                          "cpu", 32))
    assert versions.shape == (32, 50, 2, 2)  # (B, T, one version per stage count, S)
    assert (versions[:, :, 0, 1] == -1).all()  # the one-stage version codes one stage
    idx = k.all_stages(versions)
    valid = (idx[..., 0] >= 0).sum(1)
    assert idx.shape == (32, 50, 2) and set(valid.tolist()) == {50, 15}
    assert ((idx >= 0) == (torch.arange(50)[None, :, None] < valid[:, None, None])).all()
    assert ((versions[:, :, 0, 0] >= 0) == (idx[..., 0] >= 0)).all()
    prior = k.float_prior(cfg)
    short = idx[valid == 15][:1]
    with torch.no_grad():
        padded = k.prior_loss(prior(short.clamp(min=0)), short, reduction="sum")
        alone = k.prior_loss(prior(short[:, :15]), short[:, :15], reduction="sum")
    assert torch.allclose(padded, alone)
    ip = prior.to_integer()
    assert int_prior_bits("speech", ip, short) == int_prior_bits("speech", ip, short[:, :15])


def test_speech_prior_examples_are_coded_as_the_codec_codes_each_stage_count(tmp_path):
    """The codec's search codes n stages by itself (not as the first n of more stages), so the
    prior learns, for each stage count it is cropped to, the codes the codec sends then."""
    from vqcodec import kinds
    from vqcodec.train.options import TrainOptions

    d = tmp_path / "one"
    d.mkdir()
    sf.write(d / "a.wav", make_speechlike(3.0, 16000, 5), 16000)
    k = kinds.get("speech")
    cfg = k.config({**TINY_SPEECH, "stages": 3})
    torch.manual_seed(1)
    net = k.network(cfg).eval()
    data = SpeechSegments(d, 16000, seed=2)
    versions = torch.cat(k.prior_examples(net, data, TrainOptions("speech", str(d), tmp_path / "m"),
                                          cfg, "cpu", 16))
    x, n = SpeechSegments(d, 16000, seed=2).chunks(16, 50 * cfg.frame)  # the same draw
    frames = torch.from_numpy(-(-n // cfg.frame))
    for s in (1, 2, 3):
        want = net.encode(x, s).transpose(1, 2)  # (B, T, s), as the codec codes s stages
        got = versions[:, :, s - 1, :s]
        inside = torch.arange(50)[None, :] < frames[:, None]
        assert torch.equal(got[inside], want[inside]) and (got[~inside] == -1).all()
    crops = {tuple(k.prior_crop(versions).shape) for _ in range(40)}
    assert crops == {(16, 50, 1), (16, 50, 2), (16, 50, 3)}


def test_a_prior_retrained_alone_is_measured_on_the_held_out_speakers(media, speech_model, tmp_path):
    """`--steps 0` keeps the autoencoder and trains only the prior; its summary figure is the
    held-out speakers' (--val-data), not examples the prior learnt from."""
    from safetensors import safe_open

    val = tmp_path / "val"
    val.mkdir()
    sf.write(val / "v.wav", make_speechlike(2.2, 16000, 7), 16000)
    out = tmp_path / "p.safetensors"
    r = run_cli("train", "speech", "--data", media / "sp", "--val-data", val, "--out", out,
                "--config", json.dumps(TINY_SPEECH), "--init", speech_model, "--steps", "0",
                "--prior-steps", "3", "--batch", "2", "--prior-examples", "8", "-q")
    assert r.returncode == 0, r.stderr.decode()
    log = [json.loads(line) for line in open(str(out) + ".log.jsonl")]
    last = [rec for rec in log if rec["stage"] == "prior"][-1]
    summary = [rec for rec in log if rec["stage"] == "summary"][0]
    assert summary["prior_held_out"] == "--val-data"
    assert abs(summary["prior_bits_per_index_float"] - last["held_out_bits_per_index"]) < 1e-3
    same = tmp_path / "same.safetensors"  # the autoencoder saved as --init gives it
    r = run_cli("train", "speech", "--data", media / "sp", "--out", same, "--config",
                json.dumps(TINY_SPEECH), "--init", speech_model, "--steps", "0", "--prior-steps", "0",
                "--prior-examples", "8", "-q")
    assert r.returncode == 0, r.stderr.decode()
    with safe_open(str(same), "np") as a, safe_open(str(out), "np") as b:
        net = [k for k in a.keys() if not k.startswith("prior.")]
        assert net and all(np.array_equal(a.get_tensor(k), b.get_tensor(k)) for k in net)
        assert any(not np.array_equal(a.get_tensor(k), b.get_tensor(k))
                   for k in a.keys() if k.startswith("prior."))


def test_a_file_named_twice_is_packed_once(tmp_path):
    d = tmp_path / "img"
    d.mkdir()
    for i in range(2):
        make_image(d / f"{i}.png", 40, 32, i)
    index = write_pack("image", [d, d, d / "1.png", tmp_path / "img" / ".." / "img" / "0.png"],
                       tmp_path / "im.npy")
    assert index["count"] == 2
    assert sorted(open_pack(tmp_path / "im.npy").sources) == [str(d / "0.png"), str(d / "1.png")]
