"""`train --init`: start a run from a model file or from another run's checkpoint; `--only`:
retrain some networks around a model's codebooks and prior. torch loads on first use, so the
command line checks `--only` before anything heavy."""

from __future__ import annotations

from ..errors import BadInputError, ModelError, UsageError


def warm_start(path: str, kind: str, cfg, net, prior, adversary, device) -> None:
    """Load into `net` (and `prior`, `adversary`): the autoencoder of a model file, or the
    autoencoder, codebook statistics and discriminators of another run's checkpoint (`.ckpt`),
    and its prior when that run trained one (the prior then adapts to the new codes instead of
    starting from nothing)."""
    if path.endswith(".ckpt"):
        state = read_checkpoint(path, device)
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
    check_kind(path, src.kind, kind)
    if not same_but_stages(src.config, cfg):
        raise BadInputError(f"--init {path}: a {src.kind} model with another configuration")
    net.load_state_dict(src.net.state_dict(), strict=False)
    # keep the trained codebooks (no k-means seeding); stages the source lacks start fresh
    for q in net.quantizer.stages[: len(src.net.quantizer.stages)]:
        q.initialised.fill_(True)
        q.after_init()


def check_kind(path: str, found: str, kind: str) -> None:
    """BadInputError unless the --init model is of the kind this run trains."""
    if found != kind:
        from .. import kinds

        raise BadInputError(f"--init {path} is {kinds.get(found).article} {found} model; this run "
                            f"trains {kinds.get(kind).article} {kind} model")


def read_checkpoint(path, device) -> dict:
    """A run's checkpoint (`OUT.ckpt`) as `Trainer.save_checkpoint` wrote it; BadInputError for
    a file that is not one (damaged, cut short, or something else under that name)."""
    import torch

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except OSError:
        raise
    except Exception:  # torch reports a damaged file as pickle, zip or runtime errors
        raise BadInputError(f"{path}: not a readable checkpoint (damaged, or not a training "
                            "run's OUT.ckpt)") from None
    if not isinstance(state, dict) or "net" not in state:
        raise BadInputError(f"{path}: not a readable checkpoint (no networks in it)")
    return state


def same_but_stages(a, b) -> bool:
    """Configurations equal but for the stage count, the coding around the networks and the
    prior's size: a model with more residual stages (more quality levels) may start from one
    with fewer, a model with the detail levels from one without (codec/detail.py: no weights),
    and a model with a smaller or larger prior from any (a model file's prior is not loaded:
    the run trains its own on its codes)."""
    import dataclasses

    from ..models.modelfile import CODING_KEYS

    if type(a) is not type(b):
        return False
    plain = [{k: v for k, v in dataclasses.asdict(c).items() if k not in CODING_KEYS}
             | {"stages": 0} for c in (a, b)]
    for p in plain:
        if isinstance(p.get("prior"), dict):
            p["prior"] = p["prior"]["codebook_size"]
    return plain[0] == plain[1]


# -- --only encoder / decoder -----------------------------------------------------------------
PARTS = ("encoder", "decoder")  # what `--only` may train; the codebooks and the prior stay


def only_parts(only: str) -> tuple[str, ...]:
    """`--only` as the parts it trains, in network order: () for "all", else a comma list of
    PARTS ("decoder", "encoder", "encoder,decoder")."""
    if only == "all":
        return ()
    given = [p.strip() for p in only.split(",")]
    if not given or any(p not in PARTS for p in given) or len(set(given)) != len(given):
        raise UsageError(f"unknown --only {only!r}: use all, decoder, encoder or encoder,decoder")
    return tuple(p for p in PARTS if p in given)


def codes_base(init: str | None, kind: str, cfg, only: str = "decoder"):
    """The model whose codes (codebooks and prior) a run with --only keeps: --init, or for a
    run's checkpoint (OUT.ckpt) the model file that run wrote (OUT)."""
    from ..models.modelfile import load_model, same_networks

    if not init:
        raise UsageError(f"--only {only} fine-tunes a trained model: give --init")
    path = init.removesuffix(".ckpt")
    try:
        base = load_model(path)
    except ModelError:
        if path == init:
            raise
        raise UsageError(f"--only {only} keeps the codes of the model {init} was trained for, "
                         f"but {path} is not a readable model file") from None
    check_kind(init, base.kind, kind)
    if not same_networks(base.config, cfg):
        raise BadInputError(f"--init {init}: a {base.kind} model with another configuration")
    return base


def keep_codes(net, base, parts: tuple[str, ...] = ("decoder",)) -> None:
    """Every weight but those of `parts` from `base`, as its streams were made with (a
    checkpoint may hold other encoder or codebook weights than the model file it was saved to)."""
    from ..models.modelfile import TRAINING_BUFFERS

    state = {k: v for k, v in base.net.state_dict().items()
             if k.split(".", 1)[0] not in parts and k.rsplit(".", 1)[-1] not in TRAINING_BUFFERS}
    net.load_state_dict(state, strict=False)


def freeze_codes(net, parts: tuple[str, ...] = ("decoder",)) -> list:
    """Freeze all but `parts`: the codebooks (and so the prior's codes) stay. Returns the
    modules to hold in eval mode while the parts train (no codebook updates, dead-code restarts
    or k-means). The residual quantizer itself stays in training mode, so its stage dropout
    still teaches the decoder every prefix of the stages, and a trained encoder still feels
    the commitment loss against the fixed codebooks."""
    for name, p in net.named_parameters():
        p.requires_grad_(name.split(".", 1)[0] in parts)
    frozen = [m for name, m in net.named_children() if name not in (*parts, "quantizer")]
    return frozen + list(net.quantizer.stages)
