# Latency predictor per task x hardware (spec §4): the model plus its held-out metrics, its
# predictions and a predicted-vs-measured scatter plot.


rule train_predictor:
    input:
        "results/{task}/latency/{hw}.csv",
    output:
        predictor="results/{task}/predictor/{hw}.pt",
        metrics="results/{task}/predictor/{hw}.metrics.json",
        predictions="results/{task}/predictor/{hw}.predictions.csv",
        scatter=report(
            "results/{task}/predictor/{hw}.png",
            caption="../workflow/report/predictor.rst",
            category="Latency predictors",
            labels={"task": "{task}", "hardware": "{hw}"},
        ),
    params:
        task=task_arg,
        method=lambda wildcards: stage(wildcards.task, "predictor")["method"],
        seed=lambda wildcards: stage(wildcards.task, "predictor")["seed"],
    threads: 2
    resources:
        runtime=60,
    log:
        "logs/{task}/predictor_{hw}.log",
    benchmark:
        "benchmarks/{task}/predictor_{hw}.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "hat predictor train {input} --task {params.task} --hardware {wildcards.hw} --method {params.method}"
        " --seed {params.seed} --out {output.predictor} --metrics {output.metrics} --predictions {output.predictions}"
        " --plot {output.scatter} > {log} 2>&1"
