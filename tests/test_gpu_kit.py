"""samples/recipes/gpu_kit.py: a pack carried as Ogg Opus parts comes back as a pack of the same
length and index, the speech still in place (what `vqcodec train` on a GPU machine reads)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import soundfile as sf

from conftest import ROOT, make_speechlike

from vqcodec.train.packs import open_pack, write_pack


def _kit():
    spec = importlib.util.spec_from_file_location("gpu_kit", ROOT / "samples/recipes/gpu_kit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_pack_survives_the_opus_kit(tmp_path, monkeypatch):
    kit = _kit()
    monkeypatch.setattr(kit, "PART_SECONDS", 1)  # several parts, boundaries inside clips
    clips = tmp_path / "clips"
    clips.mkdir()
    for i, sec in enumerate((1.3, 0.7, 1.9)):
        sf.write(clips / f"{i}.wav", make_speechlike(sec, 16000, i), 16000)
    write_pack("speech", [clips], tmp_path / "p.npy")
    (tmp_path / "kit").mkdir()
    made = kit.encode_pack(tmp_path / "p.npy", "train", tmp_path / "kit", jobs=1)
    assert len(made["parts"]) == 4 and all((tmp_path / "kit" / p["file"]).stat().st_size > 0
                                           for p in made["parts"])
    kit.unpack(tmp_path / "kit", tmp_path / "out", jobs=1)

    before, after = open_pack(tmp_path / "p.npy"), open_pack(tmp_path / "out" / "train.npy")
    assert after.kind == "speech" and after.sample_rate == 16000
    assert len(after.array) == len(before.array)
    assert np.array_equal(after.starts, before.starts) and np.array_equal(after.sizes, before.sizes)
    assert after.sources == before.sources
    a, b = before.array.astype(np.float64), after.array.astype(np.float64)
    assert np.corrcoef(a, b)[0, 1] > 0.8  # the same speech, in place (lossy, not shifted)
    assert json.loads((tmp_path / "out" / "train.json").read_text())["count"] == 3
    assert (tmp_path / "out" / kit.COMPLETE).exists()


def test_an_image_pack_survives_the_jpeg_kit(tmp_path, monkeypatch):
    from conftest import make_image

    kit = _kit()
    monkeypatch.setattr(kit, "IMAGES_PER_PART", 2)
    (tmp_path / "img").mkdir()
    for i, (w, h) in enumerate(((96, 64), (40, 72), (128, 32))):
        make_image(tmp_path / "img" / f"{i}.png", w, h, i)
    write_pack("image", [tmp_path / "img"], tmp_path / "p.npy")
    (tmp_path / "kit").mkdir()
    made = kit.encode_pack(tmp_path / "p.npy", "train", tmp_path / "kit", jobs=1)
    assert [len(p["jpeg_bytes"]) for p in made["parts"]] == [2, 1]
    kit.unpack(tmp_path / "kit", tmp_path / "out", jobs=1)
    before, after = open_pack(tmp_path / "p.npy"), open_pack(tmp_path / "out" / "train.npy")
    assert after.kind == "image" and after.shapes == before.shapes
    assert np.array_equal(after.starts, before.starts)
    for i in range(len(before)):
        a, b = before.example(i).astype(np.float64), after.example(i).astype(np.float64)
        assert 10 * np.log10(255**2 / np.mean((a - b) ** 2)) > 30  # JPEG 90 of the same image
