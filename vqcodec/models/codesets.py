"""A speech model's code sets: the codebooks and prior that give a stream's indices meaning.

A speech model codes speech with its own codebooks and prior: the *wideband* set. It may carry
two more sets, each stored as tensors under its name and its prior's configuration under the
same key of the model's configuration:
- a *telephone* set (`telephone.codebooks` (stages, K, D), `telephone.prior.*`) for speech
  that went through a telephone channel (8 kHz, band-limited, GSM-coded): codebooks fitted to
  the latents the same encoder gives such speech and a prior trained on their indices
  (samples/recipes/train_speech_real.sh, phase 9);
- a newer *wideband* prior (`wideband.prior.*`) for the model's own codebooks, trained on more
  examples (phase 10). Encoders then code wideband speech with it; the model's first prior
  (`prior.*`) stays, so that every stream made with it decodes as before.
samples/recipes/code_set.py adds either to a model. The encoder, decoder and postfilter are
shared.

A stream names its set by the model id in its header. The model's first wideband set keeps the
model's codes id, as it was before the model had other sets. A set stored under a name has as
id a SHA-256 over that id, the set's prior configuration and its tensors (`set_id`). The file
records each id in its metadata (under the set's key), so finding the model a stream names reads
no tensors, and loading checks it against the tensors.

A set is used as a model of its own (`CodecModel.code_set`): a view of the same model whose
`prior`, runtime codebooks, codes id and default stage count are the set's, so the codec codes
every set the same way. The encoder picks a stream's set from the latents of its first seconds
(`choose`, called by codec/speech.py: SpeechEncoderStream).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError, UsageError

if TYPE_CHECKING:
    from .modelfile import CodecModel

WIDEBAND, TELEPHONE = "wideband", "telephone"
NAMES = (WIDEBAND, TELEPHONE)
CHOICES = ("auto", *NAMES)  # what `compress --codes` takes: auto lets the encoder choose


@dataclass(frozen=True)
class Stored:
    """A code set stored in a model file under `key`: the configuration key of its prior, the
    metadata key of its id and the prefix (key + ".") of its tensors."""
    key: str
    own_books: bool  # codebooks of its own (`KEY.codebooks`), else the model's
    label: bytes  # what its id's hash starts with

    @property
    def prefix(self) -> str:
        return self.key + "."


STORED = {TELEPHONE: Stored(TELEPHONE, True, b"vqcodec telephone code set\n"),
          WIDEBAND: Stored(WIDEBAND, False, b"vqcodec wideband code set\n")}


def set_id(stored: Stored, codes: bytes, tensors: dict[str, np.ndarray], prior) -> bytes:
    """The id streams coded with a stored set carry: SHA-256 over the model's codes id, the
    configuration of the set's prior (a CausalPriorConfig or its dict) and the set's tensors
    (name, dtype, shape, bytes)."""
    prior = prior if isinstance(prior, dict) else dataclasses.asdict(prior)
    h = hashlib.sha256(stored.label + codes + json.dumps(prior, sort_keys=True).encode() + b"\n")
    for name in sorted(k for k in tensors if k.startswith(stored.prefix)):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{a.dtype.name}:{a.shape}\n".encode())
        h.update(a)
    return h.digest()


def stored_ids(codes: bytes, tensors: dict[str, np.ndarray], config: dict) -> dict[str, str]:
    """The metadata entries (key: id hex) of the sets a model's `config` (a dict) stores."""
    return {s.key: set_id(s, codes, tensors, config[s.key]).hex() for s in STORED.values()
            if config.get(s.key) is not None}


def check(model: "CodecModel", meta: dict[str, str]) -> None:
    """A loaded model's stored sets against its metadata: each set's tensors and recorded id
    are there exactly when its configuration has the set, and the id is theirs."""
    for s in STORED.values():
        cfg = getattr(model.config, s.key, None)
        has = cfg is not None
        stored = any(k.startswith(s.prefix) for k in model.tensors)
        if has != stored or has != (s.key in meta):
            raise ModelError(f"{model.path}: model file does not match its configuration "
                             f"({s.key} code set)")
        if has and meta[s.key] != set_id(s, model.codes, model.tensors, cfg).hex():
            raise ModelError(f"{model.path}: model file is corrupt or was tampered with "
                             f"({s.key} code set id mismatch)")


def view(model: "CodecModel", name: str = TELEPHONE) -> "CodecModel":
    """The model coding with its stored set `name`: the same networks, the set's codebooks,
    prior, id and default stage count. ModelError if the model has none; ModelError for a set
    that does not fit."""
    from ..prior import IntCausalPrior

    s = STORED[name]
    cfg = getattr(model.config, s.key)
    if cfg is None:
        raise ModelError(f"{model.path}: the model has no {name} code set")
    runtime = model.runtime
    if s.own_books:
        books = model.tensors[s.prefix + "codebooks"]
        want = (cfg.stages, cfg.codebook_size, model.config.latent_dim)
        if books.shape != want:
            raise ModelError(f"{model.path}: {name} codebooks are {books.shape}, not {want}")
        runtime = runtime.with_codebooks([books[i].astype(np.float32) for i in range(cfg.stages)])
    try:
        prior = IntCausalPrior.from_state(cfg, model.tensors, s.prefix + "prior.")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{model.path}: model file does not match its configuration "
                         f"({name} prior: {exc})") from None
    config = model.config
    if name == TELEPHONE and config.telephone_stages is not None:
        config = dataclasses.replace(config, default_stages=config.telephone_stages)
    codes = set_id(s, model.codes, model.tensors, cfg).hex()
    return dataclasses.replace(model, config=config, prior=prior, meta_codes=codes,
                               set_name=name, _runtime=runtime, _net=None, _sets=None)


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


def add_set(base: "CodecModel", donor: "CodecModel", out: str | Path, name: str = TELEPHONE,
            replace: bool = False) -> bytes:
    """Write `base` with `donor`'s prior (and, for the telephone set, its codebooks) as its
    stored set `name` to `out`. The donor is a model with the same networks, such as the base
    with codebooks fitted to telephone speech and a prior trained on their indices, or with its
    own codebooks and a prior trained on more examples (`train --init`); only its codebooks and
    prior are taken. A wideband donor must have the base's codebooks. The new file keeps the
    base's codes id and its other sets (their streams decode as before) and drops the base's
    recorded measurement. A base that has a set `name` already is refused unless `replace`:
    the streams coded with that set would no longer decode with the new file (a replaced
    telephone set also loses its default stage count, chosen for the old one). Returns the
    file's fingerprint."""
    from .modelfile import _fingerprint, _rewrite, read_metadata

    s = STORED[name]
    if base.kind != "speech" or donor.kind != "speech":
        raise ModelError("only speech models have code sets")
    if getattr(base.config, s.key, None) is not None and not replace:
        old = view(base, name).short_id
        raise ModelError(f"{base.path} already has a {name} code set ({old}): its streams would "
                         "no longer decode with the new file (replace it on purpose only)")
    b, d = base.config, donor.config
    if (d.stages, d.codebook_size, d.latent_dim) != (b.stages, b.codebook_size, b.latent_dim):
        raise ModelError(f"{donor.path}: its codes are not the shape of {base.path}'s")
    books = [f"net.quantizer.stages.{i}.codebook" for i in range(b.stages)]
    if not s.own_books and any(not np.array_equal(donor.tensors[k], base.tensors[k]) for k in books):
        raise ModelError(f"{donor.path}: its codebooks are not {base.path}'s")
    tensors = {k: v for k, v in base.tensors.items() if not k.startswith(s.prefix)}
    if s.own_books:
        tensors[s.prefix + "codebooks"] = np.stack([donor.tensors[k] for k in books]).astype(np.float16)
    tensors.update({s.prefix + k: v for k, v in donor.tensors.items() if k.startswith("prior.")})
    meta = read_metadata(base.path)
    config = json.loads(meta["config"])
    config[s.key] = dataclasses.asdict(d.prior)
    if name == TELEPHONE:
        config.pop("telephone_stages", None)
    meta["config"] = json.dumps(config, sort_keys=True)
    codes = base.codes.hex()
    fp = _fingerprint("speech", meta["config"], tensors, codes)
    info = json.loads(meta.get("info", "{}"))
    info.pop("measured", None)
    meta.update(fingerprint=fp.hex(), codes=codes, info=json.dumps(info, sort_keys=True))
    meta[s.key] = set_id(s, base.codes, tensors, d.prior).hex()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    _rewrite(path, tensors, meta)
    return fp
