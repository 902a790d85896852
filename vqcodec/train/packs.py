"""Packed training corpora: one flat memory-mapped array and a JSON index of its examples.

A pack is `NAME.npy` (a 1-D int16 array of speech at one sample rate, or a 1-D uint8 array of
RGB images, row after row) and `NAME.json` (where each example starts, its length or image
shape, and the file it came from). Training memory-maps the array and slices the examples it
samples, so memory does not grow with the corpus and worker processes share the pages. A flat
`.npy` was chosen over tar shards because training samples random crops of random examples:
slicing a memory map reads just those bytes, where a shard would be read whole.

Writing streams: one file at a time, audio in blocks through the streaming resampler. Files that
cannot be read are skipped and listed in the index. No torch is needed.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import BadInputError
from ..media import AUDIO_SUFFIXES, IMAGE_SUFFIXES

FORMAT, VERSION = "vqcodec-pack", 1
HEADER_BYTES = 128  # the .npy header, fixed so the final length can be written at the end
Progress = Callable[[int, int, str], None]  # (files done, files in all, current file)


def find_files(root: str | Path, exts: set[str]) -> list[Path]:
    """Every file under `root` (recursive, sorted) whose suffix is in `exts`."""
    root = Path(root)
    if not root.exists():
        raise BadInputError(f"no such data folder: {root}")
    if not root.is_dir():
        raise BadInputError(f"{root} is not a folder or a packed .npy")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file())
    if not files:
        raise BadInputError(f"no {'/'.join(sorted(exts))} files under {root}")
    return files


# -- reading ------------------------------------------------------------------------------
@dataclass
class Pack:
    """A pack opened for reading: `array` is memory-mapped, example i is
    `array[starts[i]: starts[i] + sizes[i]]` (images: reshaped to `shapes[i]`)."""

    kind: str  # "speech" or "image"
    array: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    shapes: list[tuple[int, int, int]] | None  # images only
    sample_rate: int | None  # speech only
    sources: list[str]

    def __len__(self) -> int:
        return len(self.starts)

    def example(self, i: int) -> np.ndarray:
        """A view into the memory map (nothing is copied until it is used)."""
        x = self.array[self.starts[i]: self.starts[i] + self.sizes[i]]
        return x.reshape(self.shapes[i]) if self.shapes is not None else x


def open_pack(path: str | Path) -> Pack:
    """Open a pack, or the older formats: (N, H, W, 3) uint8 patches, or flat int16 speech with
    a .json that lists clip offsets (a bare list, {"offsets": [...]} or {"clips": [...]})."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"no such packed corpus: {path}")
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise BadInputError(f"{path}: not a readable .npy ({str(exc)[:80]})") from None
    if array.ndim == 4 and array.dtype == np.uint8:  # fixed-size patches
        n, h, w, c = array.shape
        flat = array.reshape(-1)
        return Pack("image", flat, np.arange(n, dtype=np.int64) * (h * w * c),
                    np.full(n, h * w * c, np.int64), [(h, w, c)] * n, None, [str(path)] * n)
    index_path = path.with_suffix(".json")
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{index_path}: missing or unreadable pack index ({str(exc)[:60]})") from None
    if array.ndim != 1:
        raise BadInputError(f"{path}: a pack holds a flat array, not shape {array.shape}")
    if isinstance(index, dict) and index.get("format") == FORMAT:
        examples = index["examples"]
        starts = np.array([e["start"] for e in examples], dtype=np.int64)
        sizes = np.array([e["size"] for e in examples], dtype=np.int64)
        shapes = [tuple(e["shape"]) for e in examples] if index["kind"] == "image" else None
        return Pack(index["kind"], array, starts, sizes, shapes, index.get("sample_rate"),
                    [e["source"] for e in examples])
    # the older speech packs: offsets of each clip's start
    if isinstance(index, list):
        offsets, rate, sources = index, None, None
    elif "offsets" in index:
        offsets, rate = index["offsets"], index.get("sample_rate")
        sources = [c.get("file", "") for c in index.get("clips", [])] or None
    else:
        clips = index.get("clips", [])
        offsets, rate, sources = [c["offset"] for c in clips], index.get("sample_rate"), [c.get("file", "") for c in clips]
    bounds = np.array(list(offsets) + [len(array)], dtype=np.int64)
    if not len(offsets) or np.any(np.diff(bounds) < 0) or bounds[0] < 0:
        raise BadInputError(f"{index_path}: clip offsets are empty or out of order")
    sources = sources or [f"{path}#{i}" for i in range(len(offsets))]
    return Pack("speech", array, bounds[:-1], np.diff(bounds), None, rate, sources)


# -- writing ------------------------------------------------------------------------------
def _npy_header(dtype: np.dtype, n: int) -> bytes:
    """A version 1.0 .npy header for a 1-D array of `n` items, padded to HEADER_BYTES."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)})
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", HEADER_BYTES - 10)
    body = text.encode("latin1")
    return head + body + b" " * (HEADER_BYTES - len(head) - len(body) - 1) + b"\n"


def _audio_examples(path: Path, rate: int) -> Iterator[np.ndarray]:
    """One file as int16 mono blocks at `rate` (streamed: memory does not grow with length)."""
    from ..media import Resampler, open_audio, to_pcm16

    info, blocks = open_audio(str(path), float("inf"))
    rs = Resampler(info.rate, rate)
    for block in blocks:
        yield np.frombuffer(to_pcm16(rs.push(block.mean(axis=1, keepdims=True))[:, 0]), dtype="<i2")
    yield np.frombuffer(to_pcm16(rs.finish()[:, 0]), dtype="<i2")


def _image_example(path: Path, max_side: int) -> Iterator[np.ndarray]:
    from ..media import read_image

    rgb = read_image(str(path), max_pixels=1 << 40, still=False)[0]
    h, w = rgb.shape[:2]
    if max_side and max(h, w) > max_side:
        from PIL import Image

        s = max_side / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    yield rgb


def write_pack(kind: str, inputs: list[str | Path], out: str | Path, rate: int = 16000,
               max_side: int = 0, progress: Progress | None = None) -> dict:
    """Pack every audio (`kind` "speech") or image file under `inputs` (folders or files) into
    OUT.npy + OUT.json, one file at a time. Unreadable files are skipped and listed. Returns the
    index (without the per-example list)."""
    exts = AUDIO_SUFFIXES if kind == "speech" else IMAGE_SUFFIXES
    files: list[Path] = []
    seen: set[Path] = set()  # a folder given twice, or a file inside a folder given: packed once
    for src in map(Path, inputs):
        for path in [src] if src.is_file() else find_files(src, exts):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append(path)
    out = Path(out)
    if out.suffix != ".npy":
        raise BadInputError(f"{out}: a pack is written as NAME.npy (its index beside it as NAME.json)")
    dtype = np.dtype(np.int16 if kind == "speech" else np.uint8)
    tmp = out.with_name(out.name + ".tmp")
    examples, skipped, total = [], [], 0
    try:
        with open(tmp, "wb") as f:
            f.write(_npy_header(dtype, 0))
            for n, path in enumerate(files):
                if progress:
                    progress(n, len(files), str(path))
                parts = _audio_examples(path, rate) if kind == "speech" else _image_example(path, max_side)
                size, shape = 0, None
                try:
                    for part in parts:
                        f.write(part.astype(dtype, copy=False).tobytes())
                        size, shape = size + part.size, part.shape
                except (BadInputError, OSError, ValueError, RuntimeError) as exc:
                    f.seek(HEADER_BYTES + total * dtype.itemsize)
                    f.truncate()
                    skipped.append({"source": str(path), "error": str(exc).splitlines()[0][:160]})
                    continue
                if size == 0:
                    skipped.append({"source": str(path), "error": "no samples"})
                    continue
                entry = {"source": str(path), "start": total, "size": size}
                if kind == "image":
                    entry["shape"] = list(shape)
                examples.append(entry)
                total += size
            if progress:
                progress(len(files), len(files), "")
            if not examples:
                raise BadInputError(f"none of the {len(files)} files could be read")
            f.seek(0)
            f.write(_npy_header(dtype, total))
        index = {"format": FORMAT, "version": VERSION, "kind": kind, "dtype": dtype.name,
                 "count": len(examples), "total": total, "skipped": skipped}
        if kind == "speech":
            index["sample_rate"] = rate
            index["seconds"] = round(total / rate, 2)
        tmp_index = tmp.with_suffix(".json.tmp")
        tmp_index.write_text(json.dumps({**index, "examples": examples}, indent=0))
        os.replace(tmp, out)
        os.replace(tmp_index, out.with_suffix(".json"))
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".json.tmp").unlink(missing_ok=True)
    return index
