# SuperTransformer training (spec §2). Only checkpoint_best.pt is declared: checkpoint_last.pt,
# from which a rerun after a crash resumes, is never an output, so Snakemake never deletes it.


rule train_supernet:
    input:
        data=DATA_MANIFEST,
    output:
        "results/{task}/supernet/checkpoint_best.pt",
    params:
        task=task_arg,
        data_dir=directory_of("data"),
        save_dir="results/{task}/supernet",
        cpu=cpu_flag,
        overrides=lambda wildcards: override_args(stage(wildcards.task, "supernet")["overrides"]),
        world=world_args("supernet"),
        launcher=launcher("supernet"),
        worker_threads=worker_threads("supernet"),
    threads: lambda wildcards: settings(wildcards.task)["threads"]
    resources:
        **training_resources("supernet"),
        runtime=lambda wildcards: stage(wildcards.task, "supernet")["runtime_min"],
    log:
        "logs/{task}/train_supernet.log",
    benchmark:
        "benchmarks/{task}/train_supernet.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "{params.launcher}hat train supernet --task {params.task} --data {params.data_dir} --save-dir {params.save_dir}"
        " --threads {params.worker_threads} {params.world} {params.cpu} {params.overrides} > {log} 2>&1"
