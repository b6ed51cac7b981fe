# Evolutionary search per task x hardware x budget (spec §5): fitness is the validation loss with
# weights inherited from the SuperTransformer, latency comes from the predictor. A run's {budget} is
# `{ms}ms` or `{pct}pct` (relative to the predictor's achievable range; the search resolves it).


rule search:
    input:
        supernet="results/{task}/supernet/checkpoint_best.pt",
        data=DATA_MANIFEST,
        predictor="results/{task}/predictor/{hw}.pt",
    output:
        config="results/{task}/{hw}@{budget}/subtransformer.yml",
        sidecar="results/{task}/{hw}@{budget}/subtransformer.json",
        log_csv="results/{task}/{hw}@{budget}/subtransformer.search_log.csv",
        curve=report(
            "results/{task}/{hw}@{budget}/subtransformer.search.png",
            caption="../workflow/report/search.rst",
            category="Search curves",
            labels={"task": "{task}", "hardware": "{hw}", "budget": "{budget}"},
        ),
    params:
        task=task_arg,
        data_dir=directory_of("data"),
        budget=budget_arg,
        seed=lambda wildcards: stage(wildcards.task, "search")["seed"],
        population=lambda wildcards: stage(wildcards.task, "search")["population"],
        iterations=lambda wildcards: stage(wildcards.task, "search")["iterations"],
        measure=measure_latency_args,
        valid_batches=valid_batches_arg,
        device=lambda wildcards: settings(wildcards.task)["device"],
        workers=search_workers,
        worker_threads=lambda wildcards, threads: max(1, threads // search_workers(wildcards)),
        runtime=lambda wildcards: runtime_args(wildcards.hw),
        confidence=confidence_arg,
    threads: lambda wildcards: 2 * search_workers(wildcards)
    resources:
        gpu=lambda wildcards: gpus(wildcards) * search_workers(wildcards),
        runtime=lambda wildcards: stage(wildcards.task, "search")["runtime_min"],
    log:
        "logs/{task}/{hw}@{budget}/search.log",
    benchmark:
        "benchmarks/{task}/{hw}@{budget}/search.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "hat search --task {params.task} --supernet {input.supernet} --data {params.data_dir}"
        " --predictor {input.predictor} {params.budget} --hardware {wildcards.hw}"
        " --seed {params.seed} --population {params.population} --iterations {params.iterations}"
        " {params.valid_batches} --device {params.device} --workers {params.workers} --threads {params.worker_threads}"
        " {params.measure} {params.runtime} {params.confidence} --no-progress --out {output.config}"
        " --sidecar {output.sidecar} --log-csv {output.log_csv} --plot {output.curve} > {log} 2>&1"
