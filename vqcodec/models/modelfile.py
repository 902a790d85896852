"""Model files: safetensors holding the autoencoder, the frozen integer prior and a config.

Loading never unpickles: tensors come from safetensors and the configuration from JSON in its
metadata. Loading needs no torch: the codec runs the networks through `vqcodec.runtime`, and
the torch modules (`CodecModel.net`, for training and checks) are built on first use. The
fingerprint is a SHA-256 over the kind, the configuration and every tensor, and a file whose
recorded fingerprint does not match its contents is refused as tampered.

Streams name a model by the first 4 bytes of its *codes* id: the fingerprint of the model that
first wrote them. A model whose decoder alone was retrained (`train --only decoder`) keeps the
encoder, codebooks and prior of its base byte for byte, so it writes and reads the same streams:
it inherits the base's codes id (metadata `codes`, covered by its own fingerprint).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from . import codesets
from .. import kinds
from ..errors import ModelError
from .registry import BUNDLED, MODELS_DIR, bundled_names, find_by_fingerprint, read_metadata, resolve

__all__ = ["BUNDLED", "MODELS_DIR", "CodecModel", "bundled_names", "find_by_fingerprint",
           "load_model", "read_metadata", "resolve", "save_model", "write_info"]

if TYPE_CHECKING:
    import torch

FORMAT = "vqcodec-model/1"
TRAINING_BUFFERS = ("counts", "idle", "ema_count", "ema_sum", "window", "steps", "initialised")


@dataclass
class CodecModel:
    kind: str  # "image" or "speech"
    config: Any  # ImageModelConfig | SpeechModelConfig
    prior: Any  # IntGatedPixelCNN | IntCausalPrior
    fingerprint: bytes
    info: dict
    path: Path
    tensors: dict[str, np.ndarray]  # everything in the file, as stored
    meta_codes: str = ""  # hex; set when the model kept another model's codes
    set_name: str = "wideband"  # the code set it codes with (models/codesets.py)
    _runtime: Any = None
    _net: Any = None
    _sets: Any = None

    @property
    def runtime(self):
        """The numpy networks (vqcodec.runtime.ImageNet | SpeechNet) the codec runs."""
        if self._runtime is None:
            from ..runtime.weights import net_params

            self._runtime = kinds.get(self.kind).runtime(self.config, net_params(self.tensors))
        return self._runtime

    @property
    def net(self):
        """The torch module (ImageVQVAE | SpeechVQVAE) in eval mode; imports torch."""
        if self.set_name != "wideband":
            raise ModelError(f"{self.path}: the networks of its {self.set_name} code set are "
                             "the model's own: use the model")
        if self._net is None:
            self._net = _torch_net(self.kind, self.config, self.tensors, self.path)
        return self._net

    @property
    def histogram(self) -> "torch.Tensor | None":
        """(S, K) code counts over the training set, if the file has them."""
        h = self.tensors.get("stats.histogram")
        if h is None:
            return None
        import torch

        return torch.from_numpy(np.array(h))

    @property
    def codes(self) -> bytes:
        """The id its streams carry (the first 4 bytes): its own fingerprint, or the one of the
        model whose codes it kept (a decoder retrained alone)."""
        return bytes.fromhex(self.meta_codes) if self.meta_codes else self.fingerprint

    @property
    def code_sets(self) -> list["CodecModel"]:
        """The model coding with each of the code sets its encoder may use
        (models/codesets.py): the wideband set (its stored newer wideband prior if it has one,
        else itself), then its telephone set if it has one."""
        if self._sets is None:
            from . import codesets

            first = codesets.view(self, codesets.WIDEBAND) if self.config_has("wideband") else self
            extra = [codesets.view(self, codesets.TELEPHONE)] if self.config_has("telephone") else []
            self._sets = [first, *extra]
            for view in self._sets:  # a set's view has the model's sets, not sets of its own
                if view is not self:
                    view._sets = self._sets
        return self._sets

    def config_has(self, key: str) -> bool:
        return getattr(self.config, key, None) is not None

    @property
    def set_label(self) -> str:
        """The code set's name as reports give it (what registry.stream_ids calls it): a
        model's own prior, once it stores a newer wideband one, is "wideband, first prior"."""
        if self.set_name == "wideband" and all(m is not self for m in self.code_sets):
            return "wideband, first prior"
        return self.set_name

    def code_set(self, codes: bytes) -> "CodecModel | None":
        """The model coding with the code set whose streams carry the id `codes` (4 bytes): its
        own codes id (the first wideband prior: every stream made before it had a newer one)
        or one of code_sets'."""
        if codes == self.codes[: len(codes)]:
            return self
        return next((m for m in self.code_sets if m.codes[: len(codes)] == codes), None)

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".safetensors")

    @property
    def short_id(self) -> str:
        """The model id streams carry, as hex."""
        return self.codes[:4].hex()


def _fingerprint(kind: str, config: str, tensors: dict[str, np.ndarray], codes: str = "") -> bytes:
    """SHA-256 over kind, config, the inherited codes id if any, and every tensor (name, torch's
    dtype name, shape, bytes)."""
    h = hashlib.sha256(f"{kind}\n{config}\n".encode())
    if codes:
        h.update(f"codes:{codes}\n".encode())
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:torch.{TORCH_DTYPE_NAMES.get(a.dtype.name, a.dtype.name)}:{a.shape}\n".encode())
        h.update(a)  # its buffer, not a copy (tobytes)
    return h.digest()


# numpy dtype -> the name torch gives it (the fingerprint was first defined on torch tensors)
TORCH_DTYPE_NAMES = {"bool": "bool", "uint8": "uint8", "int8": "int8", "int16": "int16",
                     "int32": "int32", "int64": "int64", "float16": "float16",
                     "float32": "float32", "float64": "float64"}


INT8_MIN_SIZE = 4096  # weight tensors this large are stored as int8 with a scale per output
INT8_PARTS: tuple[str, ...] = ("encoder.", "decoder.")  # which networks may be stored in int8


def _to_int8(t: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """Per-output-channel symmetric int8 storage: (int8 tensor, float32 scales)."""
    import torch

    scale = t.abs().flatten(1).amax(dim=1).clamp(min=1e-12) / 127
    q = torch.round(t / scale.view(-1, *[1] * (t.dim() - 1))).to(torch.int8)
    return q, scale.float()


def _torch_net(kind: str, cfg, tensors: dict[str, np.ndarray], path: Path):
    """The torch module of a model, weights restored exactly as the runtime restores them."""
    import torch

    from ..runtime.weights import net_params

    net = kinds.get(kind).network(cfg)
    state = {k: torch.from_numpy(v) for k, v in net_params(tensors).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(m.rsplit(".", 1)[-1] not in TRAINING_BUFFERS for m in missing):
        raise ModelError(f"{path}: model file does not match its configuration")
    return net.eval()


def part_tensors(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The tensor name prefixes of network parts ("encoder", "decoder") in a model file."""
    return tuple(f"{pre}net.{part}." for part in parts for pre in ("", "scale."))


# configuration keys of the coding around the networks, not of the networks: an image model's
# detail levels (codec/detail.py), a speech model's default stage counts, rate weight and
# stored code sets (models/codesets.py)
CODING_KEYS = ("detail", "default_stages", "rate_weight", "telephone", "wideband", "telephone_stages")


def same_networks(a, b) -> bool:
    """Configurations equal but for the coding around the networks (CODING_KEYS): what must
    match for one model to keep another's codes."""
    def plain(c) -> dict:
        return {k: v for k, v in dataclasses.asdict(c).items() if k not in CODING_KEYS}

    return type(a) is type(b) and plain(a) == plain(b)


def save_model(path: str | Path, kind: str, net: "torch.nn.Module", prior, info: dict,
               histogram: "torch.Tensor | None" = None, base: CodecModel | None = None,
               parts: tuple[str, ...] = ("decoder",)) -> bytes:
    """Write a model file; returns its fingerprint. With `base` (`parts` of it retrained alone),
    every other tensor is the base's, byte for byte (codebooks, prior, and the code histogram,
    which no longer counts a retrained encoder's codes exactly; only sampling reads it), `prior`
    and `histogram` are not used, and the file keeps the base's codes id: the two models decode
    each other's streams."""
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for name, t in net.state_dict().items():
        if name.rsplit(".", 1)[-1] in TRAINING_BUFFERS:
            continue
        t = t.detach().cpu()
        if (t.is_floating_point() and t.dim() >= 2 and t.numel() >= INT8_MIN_SIZE
                and not name.endswith("codebook") and name.startswith(INT8_PARTS)):
            tensors["net." + name], tensors["scale.net." + name] = _to_int8(t)
        else:
            tensors["net." + name] = t.half() if t.is_floating_point() else t
    cfg = dataclasses.asdict(net.cfg)
    for key in codesets.STORED:  # a stored set's tensors come only from `base`: its configuration too
        if key in cfg:
            kept = getattr(base.config, key, None) if base is not None else None
            cfg[key] = dataclasses.asdict(kept) if kept is not None else None
    config = json.dumps(cfg, sort_keys=True)
    codes = ""
    if base is not None:
        trained = part_tensors(parts)
        kept = {k: torch.from_numpy(np.array(v)) for k, v in base.tensors.items()
                if not k.startswith(trained)}
        if base.kind != kind or not same_networks(base.config, net.cfg):
            raise ModelError(f"{base.path}: not the model these parts were trained for")
        tensors = {k: v for k, v in tensors.items() if k.startswith(trained)} | kept
        codes = base.codes.hex()
    else:
        tensors.update(prior.state("prior."))
        if histogram is not None:
            tensors["stats.histogram"] = histogram.to(torch.int64)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    arrays = {k: v.numpy() for k, v in tensors.items()}
    fp = _fingerprint(kind, config, arrays, codes)
    meta = {"format": FORMAT, "kind": kind, "config": config, "fingerprint": fp.hex(),
            "info": json.dumps(info, sort_keys=True)}
    if codes:
        meta["codes"] = codes
    if codes:  # the base's stored sets, kept
        meta.update(codesets.stored_ids(bytes.fromhex(codes), arrays, cfg))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    _publish(tmp, path)
    return fp


def write_info(path: str | Path, key: str, value: dict) -> None:
    """Set `info[key]` in a model file, tensors untouched. The fingerprint does not cover
    `info`, so streams made with the model stay valid."""
    path = resolve(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a vqcodec model file")
    info = json.loads(meta.get("info", "{}"))
    info[key] = value
    meta["info"] = json.dumps(info, sort_keys=True)
    _rewrite(path, load_file(str(path)), meta)


def set_default_stages(path: str | Path, stages: float, code_set: str = "wideband") -> bytes:
    """Set a speech model file's default stage count (what `compress` codes without
    --stages; 2.25 codes the third stage on a quarter of the frames) with its wideband sets,
    or with its telephone set (`code_set`; without one of its own it codes the wideband
    sets' count), in place. The tensors stay; the file keeps the codes id its streams carry
    (its own fingerprint before, unless it inherited one), so every stream it made still
    decodes with it. Its recorded measurement is dropped: it was taken at the old default.
    Returns the new file fingerprint."""
    from ..codec.params import joined_stages, split_stages
    from .codesets import NAMES, TELEPHONE

    model = load_model(path)
    if model.kind != "speech":
        raise ModelError(f"{model.path}: only speech models have a default stage count")
    if code_set not in NAMES:
        raise ModelError(f"unknown code set {code_set!r}: use {', '.join(NAMES)}")
    if code_set == TELEPHONE and not model.config_has(TELEPHONE):
        raise ModelError(f"{model.path}: the model has no telephone code set")
    # what compress will code (2.001 codes 2 stages): UsageError outside 1..the model's stages
    return _set_config(model, "telephone_stages" if code_set == TELEPHONE else "default_stages",
                       joined_stages(*split_stages(stages, model.config.stages)))


def set_rate_weight(path: str | Path, weight: float) -> bytes:
    """Set a speech model file's rate weight (the encoder's squared latent distance per bit of
    prior cost: codec.speech.coded_symbols; 0 for the nearest codes), in place, as
    set_default_stages does: only which codes the encoder picks changes, so the codes id stays
    and every stream decodes as before. Returns the new file fingerprint."""
    from ..networks.config import checked_rate_weight

    model = load_model(path)
    if model.kind != "speech":
        raise ModelError(f"{model.path}: only speech models have a rate weight")
    try:
        weight = checked_rate_weight(weight)
    except TypeError as exc:
        raise ModelError(str(exc)) from None
    return _set_config(model, "rate_weight", weight or None)


def set_detail(path: str | Path, on: bool = True) -> bytes:
    """Give an image model file the detail levels (codec/detail.py) or take them away, in
    place, as set_default_stages does (the codes id stays: the index streams are the same).
    Returns the new file fingerprint."""
    model = load_model(path)
    if model.kind != "image":
        raise ModelError(f"{model.path}: only image models have detail levels")
    return _set_config(model, "detail", on or None)


def _set_config(model: CodecModel, key: str, value) -> bytes:
    """Set one configuration value of a model file (None: remove it), keeping its tensors and
    codes id and dropping its recorded measurement."""
    meta = read_metadata(model.path)
    config = json.loads(meta["config"])
    if config.get(key) == value:  # as it is (None: absent): the file stays as it is
        return model.fingerprint
    config[key] = value
    if value is None:  # back to what a file without the key means
        del config[key]
    codes = model.codes.hex()
    meta["config"] = json.dumps(config, sort_keys=True)
    fp = _fingerprint(model.kind, meta["config"], model.tensors, codes)
    info = json.loads(meta.get("info", "{}"))
    info.pop("measured", None)
    meta.update(fingerprint=fp.hex(), codes=codes, info=json.dumps(info, sort_keys=True))
    _rewrite(model.path, model.tensors, meta)
    return fp


def _rewrite(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    """Write a model file's (numpy) tensors and metadata over it, atomically."""
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    _publish(tmp, path)


def _publish(tmp: Path, path: Path) -> None:
    """Rename a freshly written `tmp` over `path`. safetensors creates files 0600; the model
    gets the permissions of the file it replaces, or the umask's for a new one, so a model
    trained or measured by one user stays readable by the others."""
    from ..files import new_file_mode

    try:
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else new_file_mode())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_model(path: str | Path) -> CodecModel:
    """Load and verify a model file (a path, or the name of a bundled model)."""
    path = resolve(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a vqcodec model file")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable model file ({exc})") from None
    kind, config, codes = meta["kind"], meta["config"], meta.get("codes", "")
    if codes and not re.fullmatch("[0-9a-f]{64}", codes):
        raise ModelError(f"{path}: malformed codes id in the model file")
    fp = _fingerprint(kind, config, tensors, codes)
    if fp.hex() != meta.get("fingerprint"):
        raise ModelError(f"{path}: model file is corrupt or was tampered with "
                         "(fingerprint mismatch)")
    try:
        modality = kinds.get(kind)
        cfg = modality.config(json.loads(config))
        prior = modality.int_prior(cfg, tensors)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ModelError(f"{path}: model file does not match its configuration ({exc})") from None
    model = CodecModel(kind, cfg, prior, fp, json.loads(meta.get("info", "{}")), path, tensors,
                       codes)
    codesets.check(model, meta)
    try:
        model.runtime  # every weight the configuration names is present and well shaped
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{path}: model file does not match its configuration ({exc})") from None
    return model
