"""Model files: safetensors holding the autoencoder, the frozen integer prior and a config.

Loading never unpickles: tensors come from safetensors and the configuration from JSON in its
metadata. The fingerprint is a SHA-256 over the kind, the configuration and every tensor; its
first 4 bytes go into each stream, and a file whose recorded fingerprint does not match its
contents is refused as tampered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import kinds
from ..errors import ModelError

MODELS_DIR = Path(__file__).parent  # the bundled .safetensors files sit beside this module
BUNDLED = {"image": "image-default", "speech": "speech-default"}
FORMAT = "vqcodec-model/1"
TRAINING_BUFFERS = ("counts", "idle", "ema_count", "ema_sum", "window", "steps", "initialised")


@dataclass
class CodecModel:
    kind: str  # "image" or "speech"
    config: Any  # ImageModelConfig | SpeechModelConfig
    net: Any  # ImageVQVAE | SpeechVQVAE, in eval mode
    prior: Any  # IntGatedPixelCNN | IntCausalPrior
    fingerprint: bytes
    info: dict
    path: Path
    histogram: torch.Tensor | None = None  # (S, K) code counts over the training set

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".safetensors")

    @property
    def short_id(self) -> str:
        return self.fingerprint[:4].hex()


def _fingerprint(kind: str, config: str, tensors: dict[str, torch.Tensor]) -> bytes:
    h = hashlib.sha256(f"{kind}\n{config}\n".encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.digest()


INT8_MIN_SIZE = 4096  # weight tensors this large are stored as int8 with a scale per output
INT8_PARTS: tuple[str, ...] = ("encoder.", "decoder.")  # which networks may be stored in int8


def _to_int8(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric int8 storage: (int8 tensor, float32 scales)."""
    scale = t.abs().flatten(1).amax(dim=1).clamp(min=1e-12) / 127
    q = torch.round(t / scale.view(-1, *[1] * (t.dim() - 1))).to(torch.int8)
    return q, scale.float()


def _net_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float weights for the networks, undoing int8 / float16 storage."""
    state = {}
    for k, v in tensors.items():
        if not k.startswith("net."):
            continue
        scale = tensors.get("scale." + k)
        if scale is not None:
            state[k[4:]] = v.float() * scale.view(-1, *[1] * (v.dim() - 1))
        else:
            state[k[4:]] = v.float() if v.is_floating_point() else v
    return state


def save_model(path: str | Path, kind: str, net: torch.nn.Module, prior, info: dict,
               histogram: torch.Tensor | None = None) -> bytes:
    """Write a model file; returns its fingerprint."""
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
    tensors.update(prior.state("prior."))
    if histogram is not None:
        tensors["stats.histogram"] = histogram.to(torch.int64)
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    config = json.dumps(dataclasses.asdict(net.cfg), sort_keys=True)
    fp = _fingerprint(kind, config, tensors)
    meta = {"format": FORMAT, "kind": kind, "config": config, "fingerprint": fp.hex(),
            "info": json.dumps(info, sort_keys=True)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
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
    tensors = load_file(str(path))
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a vqcodec model file ({exc})") from None


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
    kind, config = meta["kind"], meta["config"]
    fp = _fingerprint(kind, config, tensors)
    if fp.hex() != meta.get("fingerprint"):
        raise ModelError(f"{path}: model file is corrupt or was tampered with "
                         "(fingerprint mismatch)")
    modality = kinds.get(kind)
    cfg = modality.config(json.loads(config))
    net = modality.network(cfg)
    prior = modality.int_prior(cfg, tensors)
    state = _net_state(tensors)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(m.rsplit(".", 1)[-1] not in TRAINING_BUFFERS for m in missing):
        raise ModelError(f"{path}: model file does not match its configuration")
    net.eval()
    return CodecModel(kind, cfg, net, prior, fp, json.loads(meta.get("info", "{}")), path,
                      tensors.get("stats.histogram"))


def resolve(name: str | Path) -> Path:
    """A model path, or a bundled model's name ('image-default', 'speech-default')."""
    p = Path(name)
    if p.is_file():
        return p
    bundled = MODELS_DIR / f"{name}.safetensors"
    if bundled.is_file():
        return bundled
    raise ModelError(f"model not found: {name} (bundled: {', '.join(bundled_names()) or 'none'})")


def bundled_names() -> list[str]:
    return sorted(p.name.removesuffix(".safetensors") for p in MODELS_DIR.glob("*.safetensors"))


def find_by_fingerprint(prefix: bytes) -> Path | None:
    """The bundled model whose fingerprint starts with `prefix`, if any (metadata only)."""
    for name in bundled_names():
        path = MODELS_DIR / f"{name}.safetensors"
        if read_metadata(path).get("fingerprint", "").startswith(prefix.hex()):
            return path
    return None
