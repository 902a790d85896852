"""A speech model's code sets: the codebooks and prior that give a stream's indices meaning.

A speech model codes speech with its own codebooks and prior: the *wideband* set. It may
carry a second, *telephone* set for speech that went through a telephone channel (8 kHz,
band-limited, GSM-coded): codebooks fitted to the latents the same encoder gives such
speech, and a prior trained on their indices (samples/recipes/train_speech_real.sh, phase 9;
samples/recipes/telephone_set.py adds them to a model). The encoder, decoder and postfilter
are shared. The telephone set is stored as tensors
`telephone.codebooks` (stages, K, D) and `telephone.prior.*`, with its prior's
configuration under `telephone` in the model's configuration.

A stream names its set by the model id in its header. The wideband set's id is the model's
codes id, as it was before the model had a second set, so every stream made before decodes
as it did. The telephone set's id is a SHA-256 over that id, the set's prior configuration
and its tensors (`telephone_id`). The file records it in its metadata (`telephone`), so
finding the model a stream names reads no tensors, and loading checks it against the tensors.

A set is used as a model of its own (`CodecModel.code_set`): a view of the same model whose
`prior`, runtime codebooks and codes id are the set's, so the codec codes either set the same
way. The encoder picks a stream's set from the latents of its first seconds (`choose`,
called by codec/speech.py: SpeechEncoderStream).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError, UsageError

if TYPE_CHECKING:
    from .modelfile import CodecModel

WIDEBAND, TELEPHONE = "wideband", "telephone"
NAMES = (WIDEBAND, TELEPHONE)
CHOICES = ("auto", *NAMES)  # what `compress --codes` takes: auto lets the encoder choose
PREFIX = "telephone."
CODEBOOKS = PREFIX + "codebooks"
META = "telephone"  # the metadata key of the telephone set's id (hex)


def telephone_id(codes: bytes, tensors: dict[str, np.ndarray], prior) -> bytes:
    """The id streams coded with a model's telephone set carry: SHA-256 over the model's codes
    id, the configuration of the set's prior (a CausalPriorConfig or its dict) and the set's
    tensors (name, dtype, shape, bytes)."""
    prior = prior if isinstance(prior, dict) else dataclasses.asdict(prior)
    h = hashlib.sha256(b"vqcodec telephone code set\n" + codes
                       + json.dumps(prior, sort_keys=True).encode() + b"\n")
    for name in sorted(k for k in tensors if k.startswith(PREFIX)):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{a.dtype.name}:{a.shape}\n".encode())
        h.update(a)
    return h.digest()


def check(model: "CodecModel", meta: dict[str, str]) -> None:
    """A loaded model's telephone set against its metadata: the tensors and the recorded id
    are there exactly when its configuration has the set, and the id is theirs."""
    has = getattr(model.config, "telephone", None) is not None
    stored = any(k.startswith(PREFIX) for k in model.tensors)
    if has != stored or has != (META in meta):
        raise ModelError(f"{model.path}: model file does not match its configuration "
                         "(telephone code set)")
    if has and meta[META] != telephone_id(model.codes, model.tensors, model.config.telephone).hex():
        raise ModelError(f"{model.path}: model file is corrupt or was tampered with "
                         "(telephone code set id mismatch)")


def view(model: "CodecModel") -> "CodecModel":
    """The model coding with its telephone set: the same networks, the set's codebooks, prior
    and id. ModelError if the model has none; ModelError for a set that does not fit."""
    from ..prior import IntCausalPrior

    cfg = model.config.telephone
    books = model.tensors[CODEBOOKS]
    want = (cfg.stages, cfg.codebook_size, model.config.latent_dim)
    if books.shape != want:
        raise ModelError(f"{model.path}: telephone codebooks are {books.shape}, not {want}")
    try:
        prior = IntCausalPrior.from_state(cfg, model.tensors, PREFIX + "prior.")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{model.path}: model file does not match its configuration "
                         f"(telephone prior: {exc})") from None
    runtime = model.runtime.with_codebooks([books[s].astype(np.float32) for s in range(cfg.stages)])
    codes = telephone_id(model.codes, model.tensors, cfg).hex()
    return dataclasses.replace(model, prior=prior, meta_codes=codes,
                               set_name=TELEPHONE, _runtime=runtime, _net=None, _sets=None)


def choose(z: np.ndarray, sets: "list[CodecModel]", stages: int) -> "CodecModel":
    """Of a model's code sets, the one whose codebooks code the (D, n) latents `z` with the
    smallest squared error at `stages` stages, coded greedily (the first of equals: the
    wideband set). Greedy coding costs a quarter of the codec's beam search and chose as it
    did on every clip of the validation sets, their telephone copies and the real telephone
    prompts of the training speakers (docs/RESULTS.md, nineteenth session)."""
    from ..runtime import vq

    def error(books: list[np.ndarray]) -> float:
        return float(np.square(z - vq.decode(vq.encode(z, books, stages, beam=1), books)).sum())

    errors = [error(m.runtime.codebooks) for m in sets]
    return sets[int(np.argmin(errors))]


def pick(model: "CodecModel", name: str | None) -> "list[CodecModel]":
    """The sets a stream may use under `compress --codes NAME` (CHOICES; None: auto): all for
    auto, else the one named; UsageError for a set the model lacks or an unknown name."""
    name = name or "auto"
    if name not in CHOICES:
        raise UsageError(f"unknown --codes {name!r}: use {', '.join(CHOICES)}")
    sets = model.code_sets
    if name == "auto":
        return sets
    found = [m for m in sets if m.set_name == name]
    if not found:
        raise UsageError(f"model {model.name} has no {name} code set")
    return found


def add_telephone_set(base: "CodecModel", donor: "CodecModel", out: str | Path) -> bytes:
    """Write `base` with `donor`'s codebooks and prior as its telephone set to `out`. The donor
    is a model with the same networks, such as the base with codebooks fitted to telephone
    speech and a prior trained on their indices (`train --init`); only its codebooks and prior
    are taken. The new file keeps the base's codes id (its wideband streams decode as
    before) and drops the base's recorded measurement. Returns the file's fingerprint."""
    from .modelfile import _fingerprint, _rewrite, read_metadata

    if base.kind != "speech" or donor.kind != "speech":
        raise ModelError("only speech models have a telephone code set")
    b, d = base.config, donor.config
    if (d.stages, d.codebook_size, d.latent_dim) != (b.stages, b.codebook_size, b.latent_dim):
        raise ModelError(f"{donor.path}: its codes are not the shape of {base.path}'s")
    tensors = {k: v for k, v in base.tensors.items() if not k.startswith(PREFIX)}
    tensors[CODEBOOKS] = np.stack([donor.tensors[f"net.quantizer.stages.{s}.codebook"]
                                   for s in range(b.stages)]).astype(np.float16)
    tensors.update({PREFIX + k: v for k, v in donor.tensors.items() if k.startswith("prior.")})
    config = json.loads(read_metadata(base.path)["config"])
    config["telephone"] = dataclasses.asdict(d.prior)
    meta = read_metadata(base.path)
    meta["config"] = json.dumps(config, sort_keys=True)
    codes = base.codes.hex()
    fp = _fingerprint("speech", meta["config"], tensors, codes)
    info = json.loads(meta.get("info", "{}"))
    info.pop("measured", None)
    meta.update(fingerprint=fp.hex(), codes=codes, info=json.dumps(info, sort_keys=True))
    meta[META] = telephone_id(base.codes, tensors, d.prior).hex()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    _rewrite(path, tensors, meta)
    return fp
