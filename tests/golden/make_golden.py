"""Regenerate the golden streams (run from the repository root: python tests/golden/make_golden.py).

Only do this on purpose: the golden test exists to catch changes that break existing files.
It trains two tiny models on generated data, compresses one generated image and one generated
clip with them (kept as golden.png / golden.wav), and records the sha256 of the decoded indices
and, for this machine and torch version, of the bytes the encoder wrote (see docs/FORMAT.md for
what is promised across machines).
"""

import hashlib
import io
import json
import platform
import sys
from pathlib import Path

import soundfile as sf

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from conftest import TINY_IMAGE, TINY_SPEECH, make_image, make_speechlike  # noqa: E402


def correction_sha256(path: Path) -> str:
    """The sha256 of a version 4 image stream's decoded colour correction map (int64 LE)."""
    from vqcodec.codec import colour, container
    from vqcodec.codec.image import read_image_stream, split_payload

    with open(path, "rb") as f:
        header = container.read_header(f)
        correction = split_payload(header, read_image_stream(f, header))[1]
    p = header.params
    q = colour.decode(correction, colour.grid(p.height, p.width, p.colour))
    return hashlib.sha256(q.astype("<i8").tobytes()).hexdigest()


def flat_sha256(path: Path, model: Path) -> str:
    """The sha256 of a version 5 image stream's decoded flat block map: flags (u8), colours.
    `model` decodes the indices its contexts need."""
    from vqcodec import api
    from vqcodec.codec import container, flat
    from vqcodec.codec.image import decode_indices, read_image_stream, split_payload

    with open(path, "rb") as f:
        header = container.read_header(f)
        payload = read_image_stream(f, header)
    idx = decode_indices(api.get_model(str(model), "image"), header, payload)
    fm = flat.decode(split_payload(header, payload).flat, flat.same_as_left(idx))
    return hashlib.sha256(fm.flags.astype("u1").tobytes()
                          + fm.colours[fm.flags].tobytes()).hexdigest()


def encode(src: str, model: str, opts: dict) -> bytes:
    """Golden `src` compressed with `model`; `flat_blocks` in `opts` goes to the core encoder
    (the programs' API always writes the flat block map where an image has flat blocks)."""
    from vqcodec import api

    if "flat_blocks" not in opts:
        return api.compress(str(HERE / src), model=str(HERE / model), **opts)
    from vqcodec.codec.image import compress_image
    from vqcodec.media import read_image

    rgb, channels = read_image(str(HERE / src))
    return compress_image(api.get_model(str(HERE / model), "image"), rgb, channels, **opts)[0]


def write_stream(name: str, src: str, model: str, opts: dict, expected: dict,
                 encoder: dict) -> None:
    """Compress golden `src` with `model` into `name`.vqc and record its indices' checksum and
    the encoder's bytes' checksum."""
    from vqcodec import api
    from vqcodec.codec import container

    blob = encode(src, model, opts)
    (HERE / f"{name}.vqc").write_bytes(blob)
    encoder[name] = hashlib.sha256(blob).hexdigest()
    s = io.BytesIO(blob)
    idx = api.decode_stream_indices(s, container.read_header(s), str(HERE / model))
    expected[name] = {"shape": list(idx.shape),
                      "sha256": hashlib.sha256(idx.astype("<i8").tobytes()).hexdigest()}


def add_flat() -> None:
    """Add the version 5 stream (golden.png has flat blocks, so a flat block map) with the
    committed tiny model, leaving the older streams as they are."""
    expected = json.loads((HERE / "expected.json").read_text())
    write_stream("image-flat", "golden.png", "tiny-image.safetensors", {}, expected,
                 expected["encoder"])
    expected["image-flat"]["flat_sha256"] = flat_sha256(HERE / "image-flat.vqc",
                                                        HERE / "tiny-image.safetensors")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def add_partial() -> None:
    """Add the version 6 stream (speech with a partial last stage: --stages 1.5 on the 2-stage
    tiny model) with the committed tiny model, leaving the older streams as they are."""
    expected = json.loads((HERE / "expected.json").read_text())
    write_stream("speech-partial", "golden.wav", "tiny-speech.safetensors",
                 {"stages": 1.5, "level_control": False}, expected, expected["encoder"])
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def add_level() -> None:
    """Add the version 7 stream (the golden clip at 1.5 stages with level control: a gain byte
    in every record) with the committed tiny model, leaving the older streams as they are.
    Only vqcodec before version 9 wrote version 7: speech-level.vqc is kept from then, and
    today this would write what add_compact does, so it refuses."""
    raise SystemExit("version 7 is no longer written: speech-level.vqc stays as it was made "
                     "(--add-compact adds its version 9 counterpart)")


def add_compact() -> None:
    """Add the version 9 stream (what add_level wrote as version 7, in the compact layout)
    with the committed tiny model, leaving the older streams as they are."""
    expected = json.loads((HERE / "expected.json").read_text())
    write_stream("speech-compact", "golden.wav", "tiny-speech.safetensors", {"stages": 1.5},
                 expected, expected["encoder"])
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def detail_sha256(path: Path) -> str:
    """The sha256 of a version 8 image stream's decoded detail coefficients (int16 LE)."""
    from vqcodec.codec import container, detail
    from vqcodec.codec.image import read_image_stream, split_payload

    with open(path, "rb") as f:
        header = container.read_header(f)
        layer = split_payload(header, read_image_stream(f, header)).detail
    p = header.params
    coefficients = detail.coefficients(layer, p.height, p.width, p.channels)
    return hashlib.sha256(b"".join(c.astype("<i2").tobytes() for c in coefficients)).hexdigest()


def add_detail() -> None:
    """Add the version 8 stream (golden.png at level 4: a detail layer over level 1) with the
    committed tiny model given the detail levels (tiny-image-detail.safetensors, the same
    tensors), leaving the older streams as they are."""
    import shutil

    from vqcodec.models.modelfile import set_detail

    shutil.copy(HERE / "tiny-image.safetensors", HERE / "tiny-image-detail.safetensors")
    set_detail(HERE / "tiny-image-detail.safetensors")
    expected = json.loads((HERE / "expected.json").read_text())
    write_stream("image-detail", "golden.png", "tiny-image-detail.safetensors", {"quality": 4},
                 expected, expected["encoder"])
    expected["image-detail"]["detail_sha256"] = detail_sha256(HERE / "image-detail.vqc")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def main() -> None:
    from vqcodec import api
    from vqcodec.codec import container
    from vqcodec.train.trainer import TrainOptions, train

    work = HERE / "_work"
    (work / "img").mkdir(parents=True, exist_ok=True)
    (work / "sp").mkdir(parents=True, exist_ok=True)
    for i in range(4):
        make_image(work / "img" / f"{i}.png", 96, 64, i)
        sf.write(work / "sp" / f"{i}.wav", make_speechlike(2.0, 16000, i), 16000)
    train(TrainOptions("image", str(work / "img"), HERE / "tiny-image.safetensors", steps=20,
                       prior_steps=20, batch=4, crop=32, prior_crop=64, prior_examples=16,
                       model=TINY_IMAGE))
    train(TrainOptions("speech", str(work / "sp"), HERE / "tiny-speech.safetensors", steps=10,
                       prior_steps=10, batch=2, seconds=0.5, prior_examples=8,
                       model=TINY_SPEECH))
    make_image(HERE / "golden.png", 72, 40, 99)
    sf.write(HERE / "golden.wav", make_speechlike(1.3, 16000, 99), 16000, subtype="PCM_16")
    import torch

    expected = {}
    encoder = {"torch": torch.__version__.split("+")[0], "machine": platform.machine()}
    for name, src, model, opts in (("image", "golden.png", "tiny-image.safetensors", {"colour": False}),
                                   ("image-colour", "golden.png", "tiny-image.safetensors",
                                    {"flat_blocks": False}),  # version 4
                                   ("speech", "golden.wav", "tiny-speech.safetensors",
                                    {"level_control": False})):  # version 1
        write_stream(name, src, model, opts, expected, encoder)
    expected["image-colour"]["correction_sha256"] = correction_sha256(HERE / "image-colour.vqc")
    expected["encoder"] = encoder
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    add_flat()  # the same image as "image-colour", with its flat block map: version 5
    add_partial()  # the golden clip at 1.5 stages: version 6
    # speech-level.vqc, version 7, was written by vqcodec before version 9 with these tiny
    # models; new tiny models leave it without a model that decodes it (remove it then)
    add_detail()  # golden.png at level 4 with the tiny model given detail levels: version 8
    add_compact()  # the golden clip at 1.5 stages with level control: version 9
    for p in sorted(work.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    work.rmdir()
    for p in HERE.glob("*.ckpt"):
        p.unlink()
    for p in HERE.glob("*.log.jsonl"):
        p.unlink()


# `--add-flat`, `--add-partial`, `--add-level`, `--add-detail` and `--add-compact` only add the
# version 5, 6, 7, 8 or 9 stream to the committed ones (how they were first made).
if __name__ == "__main__":
    {"--add-flat": add_flat, "--add-partial": add_partial, "--add-level": add_level,
     "--add-detail": add_detail, "--add-compact": add_compact}.get(" ".join(sys.argv[1:]), main)()
