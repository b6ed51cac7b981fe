"""Design spaces and HAT's SubTransformer YAML format (hat-spec §1, §3.6, §5)."""

import dataclasses
import random
from pathlib import Path

import pytest

from hat.errors import HatError
from hat.space import (
    DIMENSIONS,
    FEATURE_NAMES,
    DesignSpace,
    SubConfig,
    format_subconfig,
    hat_features,
    read_subconfig,
    write_subconfig,
)
from hat.tasks import BUILTIN_TASKS, load_task

HAT_CONFIGS = sorted((Path(__file__).parent / "fixtures" / "hat_configs").glob("*.yml"))


def task_of(path: Path) -> str:
    return path.name.split("_")[1]


@pytest.mark.parametrize("path", HAT_CONFIGS, ids=lambda p: p.name)
def test_published_hat_yaml_loads_validates_and_round_trips(path, tmp_path):
    config = read_subconfig(path)
    load_task(task_of(path)).space.validate(config, source=str(path))
    out = tmp_path / "out.yml"
    write_subconfig(config, out)
    assert read_subconfig(out) == config
    # Same keys, values, order and comments as HAT's file (blank lines aside).
    published = [line for line in path.read_text().splitlines() if line.strip()]
    assert format_subconfig(config).splitlines() == published


def test_space_sizes_match_hat():
    # 2·2·6^6·Σ_{n=1..6} 36^n ≈ 4.2e14 for both published spaces (spec §1.2)
    expected = 2 * 2 * 6**6 * sum(36**n for n in range(1, 7))
    assert load_task("wmt14ende").space.size() == expected
    assert load_task("iwslt14deen").space.size() == expected


def test_every_builtin_task_loads_with_consistent_spaces():
    for name in BUILTIN_TASKS:
        task = load_task(name)
        assert task.space.share_all_embeddings == (name != "iwslt14deen")
        for field in ("encoder_ffn_embed_dim_choice", "decoder_self_attention_heads_choice"):
            assert set(getattr(task.space, field)) <= set(getattr(task.latency_space, field))
        assert task.sentence_length == (23 if name == "iwslt14deen" else 30)


def test_sampling_is_seeded_uniform_and_valid():
    space = load_task("wmt14ende").space
    first = [space.sample(random.Random(seed)) for seed in range(50)]
    again = [space.sample(random.Random(seed)) for seed in range(50)]
    assert first == again
    for config in first:
        space.validate(config)
    assert {c.decoder_layer_num for c in first} == set(space.decoder_layer_num_choice)


def test_sampling_follows_hats_draw_order():
    """HAT draws enc/dec embed, enc/dec layer counts, then per-layer genes, then 6 arbitrary values."""
    space = load_task("wmt14ende").space
    rng = random.Random(7)
    enc_embed, dec_embed = rng.choice(space.encoder_embed_choice), rng.choice(space.decoder_embed_choice)
    rng.choice(space.encoder_layer_num_choice)
    dec_layers = rng.choice(space.decoder_layer_num_choice)
    config = space.sample(random.Random(7))
    assert (config.encoder_embed_dim, config.decoder_embed_dim, config.decoder_layer_num) == (
        enc_embed,
        dec_embed,
        dec_layers,
    )


def test_genes_round_trip_and_junk_genes_are_ignored():
    space = load_task("wmt14ende").space
    assert len(space.gene_choices()) == 40
    rng = random.Random(0)
    for _ in range(20):
        gene = space.random_gene(rng)
        config = space.config_from_gene(gene)
        space.validate(config)
        assert space.config_from_gene(space.gene_from_config(config)) == config
        junk = list(gene)
        junk[-1] = 2 if junk[-1] != 2 else -1  # last decoder layer's arbitrary gene
        if config.decoder_layer_num < 6:
            assert space.config_from_gene(junk) == config


def test_largest_and_smallest_match_hats_validation_configs():
    space = load_task("wmt14ende").space
    largest, smallest = space.largest(), space.smallest()
    assert largest.encoder_ffn_embed_dim == (3072,) * 6 and largest.decoder_layer_num == 6
    assert smallest.decoder_layer_num == 1 and smallest.encoder_layer_num == 6
    assert smallest.encoder_embed_dim == 512 and smallest.decoder_ffn_embed_dim == (1024,)
    assert set(largest.decoder_arbitrary_ende_attn) == {1} == set(smallest.decoder_arbitrary_ende_attn)


def test_features_are_hats_ten_averages():
    config = read_subconfig(HAT_CONFIGS[0].parent / "HAT_iwslt14deen_titanxp@137.8ms_bleu@34.7.yml")
    assert len(FEATURE_NAMES) == 10
    assert hat_features(config) == [512, 6, 1024.0, 4.0, 512, 4, 1536.0, 3.5, 4.0, (3 + 1 + 1 + 1) / 4]


def test_the_dimension_table_derives_hats_names():
    """DIMENSIONS is the one table: its derived names are HAT's CSV header, HAT's SubTransformer
    keys and exactly the fields of SubConfig and DesignSpace's choice lists."""
    hat_csv_header = (  # latency_dataset/*.csv in HAT's repository, before the latency columns
        "encoder_embed_dim,encoder_layer_num,encoder_ffn_embed_dim_avg,encoder_self_attention_heads_avg,"
        "decoder_embed_dim,decoder_layer_num,decoder_ffn_embed_dim_avg,decoder_self_attention_heads_avg,"
        "decoder_ende_attention_heads_avg,decoder_arbitrary_ende_attn_avg"
    )
    assert ",".join(FEATURE_NAMES) == hat_csv_header
    assert {dim.field for dim in DIMENSIONS} == {field.name for field in dataclasses.fields(SubConfig)}
    choice_fields = {field.name for field in dataclasses.fields(DesignSpace) if field.name.endswith("_choice")}
    assert {dim.choice_field for dim in DIMENSIONS} == choice_fields
    published_keys = [line.split(":")[0] for line in HAT_CONFIGS[0].read_text().splitlines() if line[:1].isalpha()]
    assert [dim.sub_key for dim in DIMENSIONS] == published_keys


def _bad(path: Path, old: str, new: str, tmp_path: Path) -> Path:
    text = path.read_text()
    assert old in text
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace(old, new))
    return bad


@pytest.mark.parametrize(
    "old,new,message",
    [
        (
            "[1024, 3072, 3072, 2048, 2048, 2048]",
            "[1000, 3072, 3072, 2048, 2048, 2048]",
            "encoder-ffn-embed-dim-all-subtransformer: 1000 is not in the space (allowed: [3072, 2048, 1024])",
        ),
        (
            "[1024, 3072, 3072, 2048, 2048, 2048]",
            "[1024, 3072]",
            "encoder-ffn-embed-dim-all-subtransformer has 2 entries, expected 6",
        ),
        (
            "encoder-self-attention-heads-all-subtransformer: [4, 8, 4, 4, 4, 8]",
            "encoder-self-attention-heads-all-subtransformer: [3, 8, 4, 4, 4, 8]",
            "3 heads do not divide qkv-dim 512",
        ),
        ("decoder-embed-dim-subtransformer: 512", "decoder-embed-dim-subtransformer: 512\nfoo: 1", "unknown key 'foo'"),
        (
            "decoder-embed-dim-subtransformer: 512",
            "decoder-embed-dim-subtransformer: 768",
            "decoder-embed-dim-subtransformer: 768 is not in the space (allowed: [640, 512])",
        ),
        (
            "decoder-layer-num-subtransformer: 1",
            "decoder-layer-num-subtransformer: one",
            "decoder-layer-num-subtransformer must be an integer",
        ),
    ],
)
def test_validation_errors_name_the_key(old, new, message, tmp_path):
    path = _bad(HAT_CONFIGS[0].parent / "HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8.yml", old, new, tmp_path)
    with pytest.raises(HatError) as err:
        load_task("wmt14ende").space.validate(read_subconfig(path), source=str(path))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_task_is_a_one_line_error():
    with pytest.raises(HatError, match="unknown task 'wmt99'"):
        load_task("wmt99")


def test_subconfig_dict_forms():
    config = load_task("demo").space.smallest()
    nested = config.to_nested_dict()
    assert nested["decoder"]["decoder_layer_num"] == 1 and nested["encoder"]["encoder_embed_dim"] == 96
    assert SubConfig.from_hat_dict(config.to_hat_dict()) == config
