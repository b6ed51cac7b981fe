"""Our attention on imported HAT weights equals HAT's own MultiheadAttentionSuper (its source,
verbatim in tests/fixtures/hat_reference) on the same weights, for self- and encoder-decoder
attention at sampled widths and heads: the fused in_proj layout is read as HAT reads it."""

from __future__ import annotations

import sys
import types
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest
import torch

from hat.interop.hat_format import from_hat_state
from hat.supernet import ElasticCrossAttention, ElasticSelfAttention, attention_mask

REFERENCE = Path(__file__).parent / "fixtures" / "hat_reference"
SUPER, QKV, SUPER_HEADS = 64, 32, 4


@pytest.fixture(scope="module")
def hat_attention():
    """HAT's MultiheadAttentionSuper class; `fairseq.init` (HAT's fork only, unused by the
    forward pass) is stubbed, `fairseq.utils` is the installed fairseq's."""
    stubbed = "fairseq.init" not in sys.modules
    sys.modules.setdefault("fairseq.init", types.ModuleType("fairseq.init"))
    package = types.ModuleType("hat_reference")
    package.__path__ = []
    sys.modules["hat_reference"] = package
    for name in ("linear_super", "multihead_attention_super"):
        loader = SourceFileLoader(f"hat_reference.{name}", str(REFERENCE / f"{name}.py.txt"))
        module = module_from_spec(spec_from_loader(loader.name, loader))
        sys.modules[loader.name] = module
        loader.exec_module(module)
    yield sys.modules["hat_reference.multihead_attention_super"].MultiheadAttentionSuper
    for name in ("hat_reference", "hat_reference.linear_super", "hat_reference.multihead_attention_super"):
        sys.modules.pop(name, None)
    if stubbed:
        sys.modules.pop("fairseq.init")


def hat_module(cls, cross: bool):
    torch.manual_seed(1)
    kwargs = {"encoder_decoder_attention": True, "super_kdim": SUPER, "super_vdim": SUPER} if cross else {}
    module = cls(SUPER, SUPER_HEADS, is_encoder=not cross, self_attention=not cross, qkv_dim=QKV, **kwargs)
    with torch.no_grad():
        module.in_proj_bias.normal_()  # HAT initializes biases to 0: make them count
        module.out_proj.bias.normal_()
    return module.eval()


def our_state(module, prefix: str) -> dict[str, torch.Tensor]:
    """HAT's tensors under HAT's names, through the importer's mapping, without the prefix."""
    named = {f"{prefix}.{key}": tensor for key, tensor in module.state_dict().items()}
    return {key[len(prefix) + 1 :]: tensor for key, tensor in from_hat_state(named, QKV).items()}


@pytest.mark.parametrize("dim, memory_dim, heads", [(64, 64, 4), (48, 40, 2)])
def test_encoder_decoder_attention_equals_hats(hat_attention, dim, memory_dim, heads):
    hat = hat_module(hat_attention, cross=True)
    ours = ElasticCrossAttention(SUPER, SUPER, QKV, 0.0).eval()
    ours.load_state_dict(our_state(hat, "decoder.layers.0.encoder_attn"))
    x, memory = torch.randn(2, 5, dim), torch.randn(2, 7, memory_dim)  # [B, T, d], [B, S, e]
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[1, 5:] = True
    hat.set_sample_config(sample_q_embed_dim=dim, sample_attention_heads=heads, sample_kv_embed_dim=memory_dim)
    with torch.no_grad():
        expected, _ = hat(x.transpose(0, 1), memory.transpose(0, 1), memory.transpose(0, 1), key_padding_mask=padding)
        got = ours(x, memory, dim, memory_dim, heads, attention_mask(padding))
    torch.testing.assert_close(got, expected.transpose(0, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim, heads", [(64, 4), (40, 2)])
def test_self_attention_equals_hats(hat_attention, dim, heads):
    hat = hat_module(hat_attention, cross=False)
    ours = ElasticSelfAttention(SUPER, QKV, 0.0).eval()
    ours.load_state_dict(our_state(hat, "encoder.layers.0.self_attn"))
    x = torch.randn(2, 6, dim)
    hat.set_sample_config(sample_q_embed_dim=dim, sample_attention_heads=heads)
    with torch.no_grad():
        expected, _ = hat(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1))
        got = ours(x, dim, heads, None)
    torch.testing.assert_close(got, expected.transpose(0, 1), rtol=1e-5, atol=1e-5)
