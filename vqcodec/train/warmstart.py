"""`train --init`: start a run from a model file or from another run's checkpoint."""

from __future__ import annotations

import torch

from ..errors import BadInputError, ModelError, UsageError


def warm_start(path: str, kind: str, cfg, net, prior, adversary, device) -> None:
    """Load into `net` (and `prior`, `adversary`): the autoencoder of a model file, or the
    autoencoder, codebook statistics and discriminators of another run's checkpoint (`.ckpt`),
    and its prior when that run trained one (the prior then adapts to the new codes instead of
    starting from nothing)."""
    if path.endswith(".ckpt"):
        state = torch.load(path, map_location=device, weights_only=True)
        try:
            net.load_state_dict(state["net"])
        except (KeyError, RuntimeError):
            raise BadInputError(f"--init {path}: not a checkpoint of this configuration") from None
        if adversary is not None and "disc" in state:
            adversary.load_state_dict(state)
        if state.get("stage") == "prior" and int(state.get("step", 0)) > 0:
            prior.load_state_dict(state["prior"])
        return
    from ..models.modelfile import load_model

    src = load_model(path)
    if src.kind != kind or not same_but_stages(src.config, cfg):
        raise BadInputError(f"--init {path}: a {src.kind} model with another configuration")
    net.load_state_dict(src.net.state_dict(), strict=False)
    # keep the trained codebooks (no k-means seeding); stages the source lacks start fresh
    for q in net.quantizer.stages[: len(src.net.quantizer.stages)]:
        q.initialised.fill_(True)
        q.after_init()


def same_but_stages(a, b) -> bool:
    """Configurations equal but for the stage count: a model with more residual stages (more
    quality levels) may start from one with fewer."""
    import dataclasses

    if type(a) is not type(b):
        return False
    plain = [{**dataclasses.asdict(c), "stages": 0, "default_stages": 0} for c in (a, b)]
    for p in plain:
        if isinstance(p.get("prior"), dict):
            p["prior"]["stages"] = 0
    return plain[0] == plain[1]


# -- --only decoder ---------------------------------------------------------------------------
def decoder_base(init: str | None, kind: str, cfg):
    """The model whose codes a decoder trained alone keeps: --init, or for a run's checkpoint
    (OUT.ckpt) the model file that run wrote (OUT)."""
    from ..models.modelfile import load_model

    if not init:
        raise UsageError("--only decoder fine-tunes a trained model: give --init")
    path = init.removesuffix(".ckpt")
    try:
        base = load_model(path)
    except ModelError:
        if path == init:
            raise
        raise UsageError(f"--only decoder keeps the codes of the model {init} was trained for, "
                         f"but {path} is not a readable model file") from None
    if base.kind != kind or base.config != cfg:
        raise BadInputError(f"--init {init}: a {base.kind} model with another configuration")
    return base


def keep_codes(net, base) -> None:
    """Every weight but the decoder's from `base`, as its streams were made with (a checkpoint
    may hold other encoder or codebook weights than the model file it was saved to)."""
    from ..models.modelfile import DECODER, TRAINING_BUFFERS

    state = {k: v for k, v in base.net.state_dict().items()
             if not k.startswith(DECODER) and k.rsplit(".", 1)[-1] not in TRAINING_BUFFERS}
    net.load_state_dict(state, strict=False)


def freeze_codes(net) -> list:
    """Freeze all but the decoder: what decides a stream's indices (encoder, codebooks) stays.
    Returns the modules to hold in eval mode while the decoder trains (no codebook updates,
    dead-code restarts or k-means). The residual quantizer itself stays in training mode, so
    its stage dropout still teaches the decoder every prefix of the stages."""
    from ..models.modelfile import DECODER

    for name, p in net.named_parameters():
        p.requires_grad_(name.startswith(DECODER))
    frozen = [m for name, m in net.named_children() if name not in ("decoder", "quantizer")]
    return frozen + list(net.quantizer.stages)
