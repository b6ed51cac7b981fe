# Uniformly scaled baselines (the paper's Transformer curves, docs/baselines.md): per task and scale
# in its baseline_scales, `hat space baseline` writes the SubTransformer once and the searched runs'
# training rule trains it (same init, same updates); per hardware of the task's budgets, the
# hardware's predictor gives its predicted latency and the searched runs' rules score it (same
# BLEU, on the same deployed model) and profile it (the shipped checkpoint timed alike).
# BASELINE, BASELINE_RUN and baseline_model: rules/common.smk.


localrules:
    baseline_config,
    baseline_latency,
    profile_baseline,


rule baseline_config:
    output:
        f"{BASELINE}/subtransformer.yml",
    params:
        task=task_arg,
    log:
        "logs/{task}/baseline-scale{scale}/baseline_config.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat space baseline --task {params.task} --scale {wildcards.scale} --out {output} > {log} 2>&1"


rule baseline_latency:
    input:
        predictor="results/{task}/predictor/{hw}.pt",
    output:
        f"{BASELINE_RUN}/predicted_latency.json",
    params:
        task=task_arg,
    log:
        "logs/{task}/{hw}/baseline-scale{scale}/baseline_latency.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat space baseline --task {params.task} --scale {wildcards.scale} --predictor {input.predictor}"
        " --hardware {wildcards.hw} --sidecar {output} > {log} 2>&1"


use rule train_subtransformer as train_baseline with:
    input:
        config=f"{BASELINE}/subtransformer.yml",
        data=DATA_MANIFEST,
        supernet="results/{task}/supernet/checkpoint_best.pt",
    output:
        f"{BASELINE}/checkpoint.pt",
    params:
        save_dir=f"{BASELINE}/train",
    log:
        "logs/{task}/baseline-scale{scale}/train_subtransformer.log",
    benchmark:
        "benchmarks/{task}/baseline-scale{scale}/train_subtransformer.tsv"


use rule export_onnx as export_onnx_baseline with:
    input:
        f"{BASELINE}/checkpoint.pt",
    output:
        f"{BASELINE_RUN}/onnx/model.json",
    log:
        "logs/{task}/{hw}/baseline-scale{scale}/export_onnx.log",


use rule evaluate as evaluate_baseline with:
    input:
        checkpoint=baseline_model,
        data=DATA_MANIFEST,
    output:
        f"{BASELINE_RUN}/bleu.txt",
    log:
        "logs/{task}/{hw}/baseline-scale{scale}/evaluate.log",
    benchmark:
        "benchmarks/{task}/{hw}/baseline-scale{scale}/evaluate.tsv"


use rule profile as profile_baseline with:
    input:
        unpack(measured_dataset),
        config=f"{BASELINE}/subtransformer.yml",
        search=f"{BASELINE_RUN}/predicted_latency.json",
        checkpoint=f"{BASELINE}/checkpoint.pt",
    output:
        f"{BASELINE_RUN}/profile.json",
    log:
        "logs/{task}/{hw}/baseline-scale{scale}/profile.log",
