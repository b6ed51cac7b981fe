"""SuperTransformer semantics: weight sharing, no copies, arbitrary attention, incremental decoding."""

import random

import pytest
import torch

from hat.space import SubConfig
from hat.supernet import SuperTransformer, attended_memory, sinusoidal_table
from hat.tasks import load_task

V = 60


@pytest.fixture(scope="module")
def demo_space():
    return load_task("demo").space


def make_model(space, **kwargs):
    torch.manual_seed(0)
    return SuperTransformer(space, V, V, **kwargs).eval()


def batch(seed=0, B=3, S=9, T=7):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (B, S), generator=g)
    src[0, :3] = 1  # left padding, as fairseq batches sources
    prev = torch.randint(4, V, (B, T), generator=g)
    return src, prev


def configs_under_test(space):
    samples = [space.sample(random.Random(seed)) for seed in range(4)]
    extremes = [space.largest(a) for a in (-1, 1, 2)] + [space.smallest(a) for a in (-1, 1, 2)]
    return extremes + samples


def test_sampling_shares_storage_and_copies_nothing(demo_space):
    model = make_model(demo_space)
    before = {name: p.data_ptr() for name, p in model.named_parameters()}
    count = sum(p.numel() for p in model.parameters())
    model.set_sample_config(demo_space.smallest())
    src, prev = batch()
    model(src, None, prev)
    assert {name: p.data_ptr() for name, p in model.named_parameters()} == before
    assert sum(p.numel() for p in model.parameters()) == count


def test_gradients_reach_only_the_selected_slices(demo_space):
    model = make_model(demo_space).train()
    config = demo_space.smallest(arbitrary=-1)
    model.set_sample_config(config)
    src, prev = batch()
    model(src, None, prev).sum().backward()
    fc1 = model.encoder.layers[0].ffn.fc1.weight.grad  # [256, 128] allocated
    assert fc1[: config.encoder_ffn_embed_dim[0], : config.encoder_embed_dim].abs().sum() > 0
    assert fc1[config.encoder_ffn_embed_dim[0] :].abs().sum() == 0
    assert fc1[:, config.encoder_embed_dim :].abs().sum() == 0
    assert all(p.grad is None for p in model.decoder.layers[1].parameters())  # inactive layer


@pytest.mark.parametrize("index", range(10))
def test_incremental_decoding_equals_full_decoding(demo_space, index):
    model = make_model(demo_space)
    config = configs_under_test(demo_space)[index]
    model.set_sample_config(config)
    src, prev = batch(seed=index)
    full = model(src, None, prev)
    encoder_out = model.encoder(src, None)
    state = {}
    steps = [model.decoder(prev[:, : t + 1], encoder_out, incremental_state=state) for t in range(prev.size(1))]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_reordering_matches_running_on_reordered_inputs(demo_space):
    model = make_model(demo_space)
    model.set_sample_config(demo_space.largest(arbitrary=2))
    src, prev = batch()
    order = torch.tensor([2, 2, 0, 1, 1])
    encoder_out = model.encoder(src, None)
    state = {}
    for t in range(3):
        model.decoder(prev[:, : t + 1], encoder_out, incremental_state=state)
    model.decoder.reorder_incremental_state(state, order)
    reordered = model.encoder.reorder_encoder_out(encoder_out, order)
    step = model.decoder(prev[order, :4], reordered, incremental_state=state)
    reference = model(src[order], None, prev[order, :4])[:, -1:]
    assert torch.allclose(step, reference, atol=1e-5)


def test_arbitrary_attention_concatenates_top_layers_along_time(demo_space):
    states = [torch.full((1, 2, 4), float(i)) for i in range(3)]
    encoder_out = {"encoder_states": states, "padding_mask": torch.tensor([[True, False]])}
    memory, mask = attended_memory(encoder_out, 1)
    assert memory[0, :, 0].tolist() == [2, 2, 1, 1]  # [last, second-last] along time
    assert mask.tolist() == [[True, False, True, False]]
    assert attended_memory(encoder_out, 2)[0].shape == (1, 6, 4)
    assert attended_memory(encoder_out, -1)[0].shape == (1, 2, 4)


def test_arbitrary_choice_changes_the_output(demo_space):
    model = make_model(demo_space)
    src, prev = batch()
    outputs = []
    for arbitrary in (-1, 1, 2):
        model.set_sample_config(demo_space.largest(arbitrary))
        outputs.append(model(src, None, prev))
    assert not torch.allclose(outputs[0], outputs[1]) and not torch.allclose(outputs[1], outputs[2])


def test_positions_are_the_super_table_sliced_not_a_native_table():
    super_table = sinusoidal_table(10, 640, padding_idx=1)
    assert super_table[1].abs().sum() == 0
    sliced = super_table[:, :512]
    native = sinusoidal_table(10, 512, padding_idx=1)
    assert not torch.allclose(sliced, native)
    assert torch.allclose(sliced[:, :320], super_table[:, :320])  # all 320 sin channels kept


def test_separate_embeddings_for_iwslt_shared_for_wmt():
    iwslt = SuperTransformer(load_task("iwslt14deen").space, 40, 50)
    assert iwslt.decoder.embed_out.shape == (50, 640)
    assert iwslt.encoder.embed_tokens is not iwslt.decoder.embed_tokens
    wmt = SuperTransformer(load_task("wmt14ende").space, 40, 40)
    assert wmt.encoder.embed_tokens is wmt.decoder.embed_tokens and wmt.decoder.embed_out is None


def test_dropout_scales_with_width_except_encoder_attention_residual(demo_space, monkeypatch):
    model = make_model(demo_space, dropout=0.3).train()
    model.set_sample_config(demo_space.smallest())  # widths 96 of 128
    seen = []
    real_dropout = torch.nn.functional.dropout
    monkeypatch.setattr(torch.nn.functional, "dropout", lambda x, p, training: seen.append(round(p, 6)) or x)
    src, prev = batch()
    model(src, None, prev)
    monkeypatch.setattr(torch.nn.functional, "dropout", real_dropout)
    scaled = round(0.3 * 96 / 128, 6)
    # encoder: embed, then per layer (unscaled attention residual, scaled FFN); decoder: embed + 3 per layer
    assert seen == [scaled] + [0.3, scaled] * 3 + [scaled] + [scaled] * 3


def test_a_config_outside_the_allocation_is_rejected(demo_space):
    model = make_model(demo_space)
    too_wide = SubConfig(256, 128, 3, 1, (256,) * 3, (4,) * 3, (256,), (4,), (4,), (-1,))
    with pytest.raises(ValueError, match="does not fit"):
        model.set_sample_config(too_wide)
    src, prev = batch()
    with pytest.raises(RuntimeError, match="set_sample_config"):
        make_model(demo_space)(src, None, prev)
