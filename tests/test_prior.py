"""The integer priors: causality, agreement with the float model, exact coding round trips."""

import pytest
import torch

from vqcodec.codec import entropy
from vqcodec.prior import CausalPrior, CausalPriorConfig, GatedPixelCNN, PixelCNNConfig
from vqcodec.prior.intops import LOGIT_SCALE


@pytest.fixture
def pixelcnn():
    torch.manual_seed(0)
    return GatedPixelCNN(PixelCNNConfig(64, 16, 3))


@pytest.fixture
def causal():
    torch.manual_seed(0)
    return CausalPrior(CausalPriorConfig(64, 3, 16, (1, 2, 4)))


def test_pixelcnn_depends_only_on_earlier_wavefronts(pixelcnn):
    idx = torch.randint(0, 64, (1, 10, 14))
    changed = idx.clone()
    changed[0, 4, 6] = (changed[0, 4, 6] + 1) % 64
    with torch.no_grad():
        diff = (pixelcnn(changed) - pixelcnn(idx)).abs().amax(1)[0]
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    assert len(ys) > 0
    assert int((2 * ys + xs).min()) > 2 * 4 + 6  # only later wavefronts see the change


def test_pixelcnn_has_no_blind_spot(pixelcnn):
    """The position up and to the right (the classic blind spot) does influence (y, x)."""
    idx = torch.randint(0, 64, (1, 10, 14))
    changed = idx.clone()
    changed[0, 3, 8] = (changed[0, 3, 8] + 1) % 64
    with torch.no_grad():
        diff = (pixelcnn(changed) - pixelcnn(idx)).abs().amax(1)[0]
    assert diff[4, 7] > 0 and diff[5, 6] > 0


def test_integer_pixelcnn_tracks_float_logits(pixelcnn):
    idx = torch.randint(0, 64, (2, 6, 9))
    with torch.no_grad():
        ref = pixelcnn(idx).permute(0, 2, 3, 1).reshape(-1, 64)
    plan = pixelcnn.to_integer().plan((2, 6, 9))
    ids = torch.arange(idx.numel())
    plan.commit(ids, idx.flatten())
    got = plan.logits(ids).double() * LOGIT_SCALE
    assert (got - ref.double()).abs().max() < 0.1


def test_image_indices_round_trip_exactly(pixelcnn):
    idx = torch.randint(0, 64, (1, 11, 13))
    model = pixelcnn.to_integer()
    streams, ideal = entropy.encode(model.plan((1, 11, 13)), idx.flatten(), 1)
    back = torch.from_numpy(entropy.decode(model.plan((1, 11, 13)), streams, idx.numel()))
    assert torch.equal(back, idx.flatten())
    assert len(streams[0]) * 8 <= ideal * 1.01 + 64  # within 1 % plus a few bytes


@pytest.mark.parametrize("shape", [(1, 11, 13), (2, 7, 30)])
def test_a_plan_holding_a_few_wavefronts_codes_as_a_whole_map_plan_does(pixelcnn, shape):
    """The caches keep a ring of wavefronts (one group's worth); the stream must not notice."""
    idx = torch.randint(0, 64, shape)
    model = pixelcnn.to_integer()
    whole = model.plan(shape, group=10**9)
    few = model.plan(shape, group=1)
    assert few.span == 1 and whole.span == 2 * (shape[1] - 1) + shape[2]
    (few_streams, few_bits), (streams, bits) = (entropy.encode(p, idx.flatten(), shape[0])
                                                for p in (few, whole))
    assert few_streams == streams and few_bits == pytest.approx(bits, rel=1e-12)
    streams, _ = entropy.encode(model.plan(shape), idx.flatten(), shape[0])
    back = entropy.decode(model.plan(shape, group=1), streams, idx.numel())
    assert torch.equal(torch.from_numpy(back), idx.flatten())


def test_a_plans_memory_does_not_grow_with_the_map(pixelcnn):
    model = pixelcnn.to_integer()

    def positions_held(shape) -> int:
        slots, _, rows, _ = model.plan(shape).cache["e"].shape
        return slots * rows

    assert positions_held((1, 40, 2000)) == positions_held((1, 40, 200_000))
    assert positions_held((1, 2000, 2000)) < 2000 * 2000 / 100  # a few wavefronts of 2000 rows


def test_a_plan_refuses_to_evaluate_more_wavefronts_than_it_holds(pixelcnn):
    plan = pixelcnn.to_integer().plan((1, 9, 9), group=1)
    with pytest.raises(ValueError, match="at most 1 wavefronts"):
        plan.commit(torch.arange(81), torch.zeros(81, dtype=torch.long))


def test_coding_reports_rising_progress_ending_at_the_total(pixelcnn):
    model = pixelcnn.to_integer()
    idx = torch.randint(0, 64, (1, 9, 12))
    for code in (lambda p: entropy.encode(model.plan((1, 9, 12), group=8), idx.flatten(), 1, p),
                 lambda p: entropy.decode(model.plan((1, 9, 12)), [streams[0]], idx.numel(), progress=p)):
        calls = []
        streams = entropy.encode(model.plan((1, 9, 12)), idx.flatten(), 1)[0]
        code(lambda done, total: calls.append((done, total)))
        done = [d for d, _ in calls]
        assert len(calls) > 2 and done == sorted(set(done)) and done[-1] == calls[0][1]


def test_sequence_indices_round_trip_per_chunk(causal):
    lengths = [20, 13, 1]
    x = torch.randint(0, 64, (3, 20, 2))
    model = causal.to_integer()
    streams, _ = entropy.encode(model.plan(lengths, 2), x.flatten(), 3)
    back = torch.from_numpy(entropy.decode(model.plan(lengths, 2), streams, x.numel())).view(3, 20, 2)
    for b, n in enumerate(lengths):
        assert torch.equal(back[b, :n], x[b, :n])
    # each chunk decodes on its own, to the same indices
    alone = torch.from_numpy(entropy.decode(model.plan([13], 2), [streams[1]], 13 * 2)).view(13, 2)
    assert torch.equal(alone, x[1, :13])


def test_causal_prior_incremental_equals_full_pass(causal):
    model = causal.to_integer()
    x = torch.randint(0, 64, (2, 9, 3))
    full = model.plan([9, 9], 3)
    ids = torch.cat(full.steps())
    full.commit(ids, x.flatten()[ids])
    want = full.logits(ids)
    inc = model.plan([9, 9], 3)
    got = []
    for step in inc.steps():
        got.append(inc.logits(step))
        inc.commit(step, x.flatten()[step])
    assert torch.equal(torch.cat(got), want)


def test_integer_prior_costs_under_two_percent_more_bits(causal):
    from vqcodec.eval.metrics import prior_bits

    x = torch.randint(0, 64, (4, 16, 3))
    with torch.no_grad():
        res = prior_bits("speech", causal, causal.to_integer(), x, 64)
    assert abs(res["int_overhead_percent"]) < 2.0


# -- residual stages (image quality levels) ----------------------------------------------------
@pytest.fixture
def staged():
    torch.manual_seed(0)
    return GatedPixelCNN(PixelCNNConfig(64, 16, 3, stages=3))


def test_staged_pixelcnn_sees_earlier_wavefronts_and_lower_stages_at_the_position(staged):
    idx = torch.randint(0, 64, (1, 8, 10, 3))
    with torch.no_grad():
        base = staged(idx)
        for s in range(3):
            changed = idx.clone()
            changed[0, 3, 4, s] = (changed[0, 3, 4, s] + 1) % 64
            diff = (staged(changed) - base).abs().amax(1)[0]  # (H, W, S)
            ys, xs, ss = torch.nonzero(diff > 0, as_tuple=True)
            here = (ys == 3) & (xs == 4)
            assert bool((2 * ys[~here] + xs[~here] > 2 * 3 + 4).all())  # later wavefronts only
            assert sorted(ss[here].tolist()) == list(range(s + 1, 3))  # and later stages here


def test_integer_staged_pixelcnn_tracks_float_logits_at_every_level(staged):
    model = staged.to_integer()
    for level in (1, 2, 3):
        idx = torch.randint(0, 64, (2, 6, 9, level))
        with torch.no_grad():
            ref = staged(idx).permute(0, 2, 3, 4, 1).reshape(-1, 64)  # (B, H, W, S) order
        plan = model.plan(tuple(idx.shape))
        ids = torch.arange(idx.numel())
        plan.commit(ids, idx.flatten())
        got = plan.logits(ids).double() * LOGIT_SCALE
        assert (got - ref.double()).abs().max() < 0.1


@pytest.mark.parametrize("shape", [(1, 7, 9, 2), (2, 5, 11, 3)])
def test_staged_maps_round_trip_and_any_group_codes_the_same_stream(staged, shape):
    idx = torch.randint(0, 64, shape)
    model = staged.to_integer()
    streams = [entropy.encode(model.plan(shape, group=g), idx.flatten(), shape[0])[0]
               for g in (1, 7, 10**9)]
    assert streams[0] == streams[1] == streams[2]
    back = entropy.decode(model.plan(shape, group=1), streams[0], idx.numel())
    assert torch.equal(torch.from_numpy(back), idx.flatten())


def test_staged_prior_incremental_equals_full_pass(staged):
    model = staged.to_integer()
    x = torch.randint(0, 64, (1, 6, 7, 3))
    full = model.plan(tuple(x.shape), group=10**9)
    ids = torch.cat(full.steps())
    full.commit(ids, x.flatten()[ids])
    want = full.logits(ids)
    inc = model.plan(tuple(x.shape))
    got = []
    for step in inc.steps():
        got.append(inc.logits(step))
        inc.commit(step, x.flatten()[step])
    assert torch.equal(torch.cat(got), want)


def test_a_one_stage_prior_keeps_its_tensor_names(pixelcnn):
    names = set(pixelcnn.to_integer().state())
    assert "prior.embed" in names and "prior.o1.weight" in names
    assert not any("embed_in" in n or "_1." in n for n in names)


@pytest.mark.parametrize("share", [1, 100, 255])
def test_a_partial_last_stage_round_trips_and_costs_nothing_where_its_flag_is_clear(causal, share):
    """Slots (stage 0, stage 1, flag, stage 2): every symbol comes back; a clear flag's stage
    costs no bits and adds nothing to the context, so with every flag clear the stream costs
    what two stages cost plus the flags (each clear one after a clear one: share / 512)."""
    import math

    import numpy as np

    model = causal.to_integer()
    rng = np.random.default_rng(share)
    lengths = [20, 13, 1]
    x = np.zeros((3, 20, 4), dtype=np.int64)
    x[..., :2] = rng.integers(0, 64, (3, 20, 2))
    flags = rng.random((3, 20)) < 0.5
    x[..., 2], x[..., 3] = flags, np.where(flags, rng.integers(0, 64, (3, 20)), 0)
    streams, _ = entropy.encode(model.plan(lengths, 3, share), x.reshape(-1), 3)
    back = entropy.decode(model.plan(lengths, 3, share), streams, x.size).reshape(x.shape)
    for b, n in enumerate(lengths):
        assert np.array_equal(back[b, :n], x[b, :n])

    x[..., 2:] = 0
    partial = entropy.plan_bits(model.plan(lengths, 3, share), x.reshape(-1))
    two = entropy.plan_bits(model.plan(lengths, 2), x[..., :2].reshape(-1))
    flag_bits = sum(lengths) * -math.log2(1 - share / 512)  # each after a clear flag
    assert partial == pytest.approx(two + flag_bits, abs=0.01)

    # every flag set: three stages' bits, the first flag of a record at share / 512, the
    # others after a set flag at (share + 256) / 512
    x[..., 2], x[..., 3] = 1, rng.integers(0, 64, (3, 20))
    partial = entropy.plan_bits(model.plan(lengths, 3, share), x.reshape(-1))
    three = entropy.plan_bits(model.plan(lengths, 3), x[..., [0, 1, 3]].reshape(-1))
    flag_bits = sum(-math.log2(share / 512) - (n - 1) * math.log2((share + 256) / 512)
                    for n in lengths)
    assert partial == pytest.approx(three + flag_bits, abs=0.01)


def test_a_partial_stage_plan_refuses_a_share_it_cannot_code(causal):
    model = causal.to_integer()
    for stages, share in ((1, 10), (3, 256), (3, -1)):
        with pytest.raises(ValueError, match="partial last stage"):
            model.plan([5], stages, share)


@pytest.mark.parametrize("share", [0, 64])
def test_sequence_streams_do_not_depend_on_how_the_encoder_groups_its_steps(causal, share, monkeypatch):
    """The encoder evaluates groups of steps at once; a group may hold a single later stage of
    one frame (a decoding step's shape). Every grouping writes the same streams, which decode."""
    import numpy as np

    model = causal.to_integer()
    rng = np.random.default_rng(7)
    lengths = [5, 2, 8]
    x = np.zeros((3, 8, 4 if share else 3), dtype=np.int64)
    x[..., :2] = rng.integers(0, 64, (3, 8, 2))
    if share:
        flags = rng.random((3, 8)) < 0.5
        x[..., 2], x[..., 3] = flags, np.where(flags, rng.integers(0, 64, (3, 8)), 0)
    else:
        x[..., 2] = rng.integers(0, 64, (3, 8))
    want = None
    for group in (10**6, 1, 2, 3, 4, 5, 7, 8):
        monkeypatch.setattr(entropy, "ENCODE_GROUP", group)
        streams, _ = entropy.encode(model.plan(lengths, 3, share), x.reshape(-1), 3)
        want = want or streams
        assert streams == want, group
    back = entropy.decode(model.plan(lengths, 3, share), want, x.size).reshape(x.shape)
    for b, n in enumerate(lengths):
        assert np.array_equal(back[b, :n], x[b, :n])
