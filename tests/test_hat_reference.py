"""Our model on imported HAT weights equals HAT's own code on the same weights:
MultiheadAttentionSuper (self- and encoder-decoder attention), the
TransformerEncoderLayer / TransformerDecoderLayer, and the whole TransformerEncoder +
TransformerDecoder of transformer_super.py (logits), at sampled SubTransformers. HAT's fused
in_proj layout, layer wiring, embedding scaling, sliced positions and arbitrary encoder-decoder
attention are read and computed as HAT does."""

from __future__ import annotations

import argparse
import ast
import math
import os
import random
import sys
import types
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest
import torch

from hat.interop.hat_format import from_hat_state
from hat.supernet import DecoderLayer, ElasticCrossAttention, ElasticSelfAttention, EncoderLayer, attention_mask

# HAT's source is not ours to ship: point HAT_SOURCE at a checkout of
# mit-han-lab/hardware-aware-transformers (commit 70e5a279 was checked); skipped without one.
HAT_SOURCE = Path(os.environ.get("HAT_SOURCE", "/nonexistent"))
SOURCE_FILES = {
    "transformer_super": "fairseq/models/transformer_super.py",
    **{name: f"fairseq/modules/{name}.py" for name in (
        "linear_super", "layer_norm", "embedding_super", "sinusoidal_positional_embedding",
        "multihead_attention_super")},
}  # fmt: skip
pytestmark = pytest.mark.skipif(
    not (HAT_SOURCE / SOURCE_FILES["transformer_super"]).is_file(), reason="HAT_SOURCE (a HAT checkout) not set"
)
SUPER, QKV, SUPER_HEADS = 64, 32, 4
REFERENCE_MODULES = ("linear_super", "layer_norm", "embedding_super", "sinusoidal_positional_embedding",
                     "multihead_attention_super")  # fmt: skip


@pytest.fixture(scope="module")
def hat_attention():
    """HAT's MultiheadAttentionSuper class; `fairseq.init` (HAT's fork only, unused by the
    forward pass) is stubbed, `fairseq.utils` is the installed fairseq's."""
    stubbed = "fairseq.init" not in sys.modules
    sys.modules.setdefault("fairseq.init", types.ModuleType("fairseq.init"))
    package = types.ModuleType("hat_reference")
    package.__path__ = []
    sys.modules["hat_reference"] = package
    for name in REFERENCE_MODULES:
        loader = SourceFileLoader(f"hat_reference.{name}", str(HAT_SOURCE / SOURCE_FILES[name]))
        module = module_from_spec(spec_from_loader(loader.name, loader))
        sys.modules[loader.name] = module
        loader.exec_module(module)
    yield sys.modules["hat_reference.multihead_attention_super"].MultiheadAttentionSuper
    for name in (
        "hat_reference",
        *(f"hat_reference.{n}" for n in ("linear_super", "layer_norm", "multihead_attention_super")),
    ):
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


FFN = 96


@pytest.fixture(scope="module")
def hat_classes(hat_attention):
    """HAT's layer, encoder and decoder classes, compiled from transformer_super.py alone (its
    model registration needs HAT's fairseq 0.8 fork): the names they use are HAT's modules,
    the installed fairseq's base classes and utils, and HAT's `init.uniform_` (an initializer;
    every weight is overwritten here)."""
    from fairseq import utils
    from fairseq.models import FairseqEncoder, FairseqIncrementalDecoder

    source = (HAT_SOURCE / SOURCE_FILES["transformer_super"]).read_text()
    wanted = {"TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
              "calc_dropout", "Linear"}  # fmt: skip
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if getattr(node, "name", None) in wanted]
    init = types.SimpleNamespace(uniform_=lambda weight, non_linear: torch.nn.init.xavier_uniform_(weight))
    sinusoidal = sys.modules["hat_reference.sinusoidal_positional_embedding"].SinusoidalPositionalEmbedding

    def positional_embedding(num_embeddings, embedding_dim, padding_idx, learned=False):
        """HAT's fairseq/modules/positional_embedding.py, sinusoidal branch."""
        assert not learned
        return sinusoidal(embedding_dim, padding_idx, init_size=num_embeddings + padding_idx + 1)

    namespace = {
        "math": math, "torch": torch, "nn": torch.nn, "F": torch.nn.functional, "utils": utils, "init": init,
        "FairseqEncoder": FairseqEncoder, "FairseqIncrementalDecoder": FairseqIncrementalDecoder,
        "PositionalEmbedding": positional_embedding, "MultiheadAttentionSuper": hat_attention,
        "LinearSuper": sys.modules["hat_reference.linear_super"].LinearSuper,
        "LayerNormSuper": sys.modules["hat_reference.layer_norm"].LayerNormSuper,
    }  # fmt: skip
    exec(compile(tree, str(HAT_SOURCE / SOURCE_FILES["transformer_super"]), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def hat_layers(hat_classes):
    return hat_classes["TransformerEncoderLayer"], hat_classes["TransformerDecoderLayer"]


def hat_args(**extra) -> argparse.Namespace:
    """What HAT's base_architecture leaves in args for these widths (post-norm, sinusoidal)."""
    return argparse.Namespace(
        encoder_embed_dim=SUPER, decoder_embed_dim=SUPER, encoder_ffn_embed_dim=FFN, decoder_ffn_embed_dim=FFN,
        encoder_attention_heads=SUPER_HEADS, decoder_attention_heads=SUPER_HEADS, qkv_dim=QKV, dropout=0.3,
        attention_dropout=0.1, encoder_normalize_before=False, decoder_normalize_before=False, encoder_layers=3,
        decoder_layers=3, max_source_positions=1024, max_target_positions=1024, encoder_learned_pos=False,
        decoder_learned_pos=False, no_token_positional_embeddings=False, vocab_original_scaling=False,
        decoder_output_dim=SUPER, adaptive_softmax_cutoff=None, get_attn=False, **extra,
    )  # fmt: skip


def randomized(module: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(2)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0, 0.2)
    return module.eval()


@pytest.mark.parametrize("dim, ffn, heads", [(64, 96, 4), (48, 40, 2)])
def test_encoder_layer_equals_hats(hat_layers, dim, ffn, heads):
    hat = randomized(hat_layers[0](hat_args(), layer_idx=0))
    hat.set_sample_config(False, dim, ffn, heads, sample_dropout=0.3 * dim / SUPER, sample_activation_dropout=0.0)
    ours = EncoderLayer(SUPER, FFN, QKV, 0.3, 0.1, SUPER).eval()
    ours.load_state_dict(our_state(hat, "encoder.layers.0"))
    x = torch.randn(2, 7, dim)
    padding = torch.zeros(2, 7, dtype=torch.bool)
    padding[0, :3] = True  # fairseq pads sources on the left
    with torch.no_grad():
        expected = hat(x.transpose(0, 1), padding)
        got = ours(x, attention_mask(padding), dim, ffn, heads)
    torch.testing.assert_close(got, expected.transpose(0, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim, memory_dim, ffn, heads, cross_heads", [(64, 64, 96, 4, 4), (48, 56, 40, 2, 4)])
def test_decoder_layer_equals_hats(hat_layers, dim, memory_dim, ffn, heads, cross_heads):
    hat = randomized(hat_layers[1](hat_args(), layer_idx=0))
    hat.set_sample_config(
        False, dim, memory_dim, ffn, heads, cross_heads, sample_dropout=0.3 * dim / SUPER, sample_activation_dropout=0.0
    )
    ours = DecoderLayer(SUPER, SUPER, FFN, QKV, 0.3, 0.1, SUPER).eval()
    ours.load_state_dict(our_state(hat, "decoder.layers.0"))
    x, memory = torch.randn(2, 5, dim), torch.randn(2, 14, memory_dim)  # memory: 2 encoder layers, 7 steps each
    padding = torch.zeros(2, 14, dtype=torch.bool)
    padding[1, :2] = padding[1, 7:9] = True
    future = torch.triu(torch.full((5, 5), float("-inf")), 1)  # HAT's buffered_future_mask
    causal = torch.ones(5, 5, dtype=torch.bool).tril()[None, None]
    with torch.no_grad():
        expected, _ = hat(x.transpose(0, 1), memory.transpose(0, 1), padding, self_attn_mask=future)
        got = ours(x, memory, attention_mask(padding), causal, dim, memory_dim, ffn, heads, cross_heads)
    torch.testing.assert_close(got, expected.transpose(0, 1), rtol=1e-5, atol=1e-5)


SPACE = {
    "encoder-embed-dim": SUPER, "decoder-embed-dim": SUPER, "encoder-ffn-embed-dim": FFN, "decoder-ffn-embed-dim": FFN,
    "encoder-layers": 3, "decoder-layers": 3, "encoder-attention-heads": SUPER_HEADS,
    "decoder-attention-heads": SUPER_HEADS, "qkv-dim": QKV, "encoder-embed-choice": [64, 48],
    "decoder-embed-choice": [64, 48], "encoder-ffn-embed-dim-choice": [96, 40],
    "decoder-ffn-embed-dim-choice": [96, 40],
    "encoder-layer-num-choice": [3], "decoder-layer-num-choice": [3, 2, 1],
    "encoder-self-attention-heads-choice": [4, 2], "decoder-self-attention-heads-choice": [4, 2],
    "decoder-ende-attention-heads-choice": [4, 2], "decoder-arbitrary-ende-attn-choice": [-1, 1, 2],
}  # fmt: skip


@pytest.mark.parametrize("shared", [True, False], ids=["shared-embeddings", "separate-embeddings"])
def test_imported_model_logits_equal_hats_transformer_super(hat_classes, shared):
    """HAT's TransformerEncoder + TransformerDecoder (embeddings scaled by sqrt(sampled width),
    sliced positions, arbitrary encoder-decoder attention, output projection) on random weights,
    saved under HAT's names, imported: our logits equal HAT's for sampled SubTransformers."""
    from fairseq.data import Dictionary

    from hat.interop.hat_format import check_hat_state, to_hat_state
    from hat.space import DesignSpace
    from hat.supernet import SuperTransformer

    dictionary = Dictionary()
    for index in range(40 - len(dictionary)):
        dictionary.add_symbol(f"w{index}")
    embed_cls = sys.modules["hat_reference.embedding_super"].EmbeddingSuper
    args = hat_args(share_decoder_input_output_embed=shared)
    torch.manual_seed(3)
    src_embed = embed_cls(len(dictionary), SUPER, dictionary.pad())
    tgt_embed = src_embed if shared else embed_cls(len(dictionary), SUPER, dictionary.pad())
    encoder = randomized(hat_classes["TransformerEncoder"](args, dictionary, src_embed))
    decoder = randomized(hat_classes["TransformerDecoder"](args, dictionary, tgt_embed))
    hat_state = {f"{side}.{key}": tensor for side, module in (("encoder", encoder), ("decoder", decoder))
                 for key, tensor in module.state_dict().items()}  # fmt: skip

    space = DesignSpace.from_hat_dict({**SPACE, "share-all-embeddings": shared}, name="reference")
    ours = SuperTransformer(space, len(dictionary), len(dictionary), padding_idx=dictionary.pad())
    exported = to_hat_state(ours)
    check_hat_state(hat_state, exported, "HAT's model")  # HAT's own state dict: exactly our exporter's layout,
    assert list(hat_state) == list(exported)  # in the same order
    ours.load_state_dict(from_hat_state(hat_state, QKV))
    ours.eval()

    src = torch.randint(4, len(dictionary), (3, 9))
    src[1, :3] = dictionary.pad()  # left padding
    prev = torch.randint(4, len(dictionary), (3, 6))
    rng = random.Random(5)
    for _ in range(4):
        config = space.sample(rng)
        encoder.set_sample_config(config.to_nested_dict())
        decoder.set_sample_config(config.to_nested_dict())
        ours.set_sample_config(config)
        with torch.no_grad():
            expected, _ = decoder(prev, encoder(src, None))
            got = ours(src, None, prev)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
