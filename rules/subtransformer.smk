# SubTransformer training (spec §6.1): from scratch as in HAT, or from inherited weights.
# Resume files stay in train/ (never declared); the final checkpoint is written to --out.


rule train_subtransformer:
    input:
        config="results/{task}/{hw}@{budget}/subtransformer.yml",
        data=DATA_MANIFEST,
        supernet="results/{task}/supernet/checkpoint_best.pt",
    output:
        "results/{task}/{hw}@{budget}/checkpoint.pt",
    params:
        task=task_arg,
        data_dir=directory_of("data"),
        save_dir="results/{task}/{hw}@{budget}/train",
        init=lambda wildcards: stage(wildcards.task, "subtransformer")["init"],
        device=lambda wildcards: settings(wildcards.task)["device"],
        overrides=lambda wildcards: override_args(stage(wildcards.task, "subtransformer")["overrides"]),
        world=world_args("subtransformer"),
        launcher=launcher("subtransformer"),
        worker_threads=worker_threads("subtransformer"),
    threads: lambda wildcards: settings(wildcards.task)["threads"]
    resources:
        **training_resources("subtransformer"),
        runtime=lambda wildcards: stage(wildcards.task, "subtransformer")["runtime_min"],
    log:
        "logs/{task}/{hw}@{budget}/train_subtransformer.log",
    benchmark:
        "benchmarks/{task}/{hw}@{budget}/train_subtransformer.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "{params.launcher}hat train subtransformer --task {params.task} --config {input.config} --data {params.data_dir}"
        " --save-dir {params.save_dir} --out {output} --init {params.init} --supernet {input.supernet}"
        " --threads {params.worker_threads} {params.world} --device {params.device} {params.overrides} > {log} 2>&1"
