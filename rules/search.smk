# Evolutionary search per task x hardware x budget (spec §5): fitness is the validation loss with
# weights inherited from the SuperTransformer, latency comes from the predictor.


rule search:
    input:
        supernet="results/{task}/supernet/checkpoint_best.pt",
        data=DATA_MANIFEST,
        predictor="results/{task}/predictor/{hw}.pt",
    output:
        config="results/{task}/{hw}@{lat}ms/subtransformer.yml",
        sidecar="results/{task}/{hw}@{lat}ms/subtransformer.json",
        log_csv="results/{task}/{hw}@{lat}ms/search_log.csv",
        curve=report(
            "results/{task}/{hw}@{lat}ms/search.png",
            caption="../workflow/report/search.rst",
            category="Search curves",
            labels={"task": "{task}", "hardware": "{hw}", "budget (ms)": "{lat}"},
        ),
    params:
        task=task_arg,
        data_dir=directory_of("data"),
        seed=lambda wildcards: stage(wildcards.task, "search")["seed"],
        population=lambda wildcards: stage(wildcards.task, "search")["population"],
        iterations=lambda wildcards: stage(wildcards.task, "search")["iterations"],
        measure=measure_arg,
        measure_threads=measure_threads_arg,
        valid_batches=valid_batches_arg,
        device=lambda wildcards: settings(wildcards.task)["device"],
        confidence=lambda wildcards: (
            "" if (c := stage(wildcards.task, "search")["confidence"]) is None else f"--confidence {c}"
        ),
    threads: 2
    resources:
        gpu=gpus,
        runtime=lambda wildcards: stage(wildcards.task, "search")["runtime_min"],
    log:
        "logs/{task}/{hw}@{lat}ms/search.log",
    benchmark:
        "benchmarks/{task}/{hw}@{lat}ms/search.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "hat search --task {params.task} --supernet {input.supernet} --data {params.data_dir}"
        " --predictor {input.predictor} --latency-budget {wildcards.lat} --hardware {wildcards.hw}"
        " --seed {params.seed} --population {params.population} --iterations {params.iterations}"
        " {params.valid_batches} --device {params.device} --threads {threads} --measure {params.measure}"
        " --measure-threads {params.measure_threads} {params.confidence} --no-progress --out {output.config} > {log} 2>&1"
