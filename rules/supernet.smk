# SuperTransformer training (spec §2). Only checkpoint_best.pt is declared: checkpoint_last.pt,
# from which a rerun after a crash resumes, is never an output, so Snakemake never deletes it.
# A task whose `supernet:` names HAT's released model (`published: NAME`) or a HAT-format file
# (`file: PATH`) imports it instead of training (docs/hat-models.md).


TRAINED_SUPERNETS = [task for task in TASKS if supernet_source(task) == "train"]
IMPORTED_SUPERNETS = [task for task in TASKS if supernet_source(task) != "train"]
# HAT model name -> the sha256 a task pins for it (None: verified by its layout on import only)
PUBLISHED_SUPERNETS = {
    stage(task, "supernet")["published"]: stage(task, "supernet").get("sha256")
    for task in IMPORTED_SUPERNETS
    if supernet_source(task) == "published"
}


rule train_supernet:
    input:
        data=DATA_MANIFEST,
    output:
        "results/{task}/supernet/checkpoint_best.pt",
    wildcard_constraints:
        task=alternatives(TRAINED_SUPERNETS),
    params:
        task=task_arg,
        data_dir=directory_of("data"),
        save_dir="results/{task}/supernet",
        device=lambda wildcards: settings(wildcards.task)["device"],
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
        " --threads {params.worker_threads} {params.world} --device {params.device} {params.overrides} > {log} 2>&1"


localrules:
    download_hat_model,


rule download_hat_model:
    output:
        "resources/hat-models/{name}.pt",
    wildcard_constraints:
        name=alternatives(PUBLISHED_SUPERNETS),
    params:
        sha256=lambda wildcards: (
            f"--sha256 {PUBLISHED_SUPERNETS[wildcards.name]}" if PUBLISHED_SUPERNETS[wildcards.name] else ""
        ),
    log:
        "logs/hat-models/{name}.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat import download {wildcards.name} --out {output} {params.sha256} > {log} 2>&1"


rule import_hat_supernet:
    input:
        checkpoint=hat_supernet_file,
        data=DATA_MANIFEST,
    output:
        "results/{task}/supernet/checkpoint_best.pt",
    wildcard_constraints:
        task=alternatives(IMPORTED_SUPERNETS),
    params:
        task=task_arg,
        data_dir=directory_of("data"),
    log:
        "logs/{task}/import_supernet.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat import hat-checkpoint {input.checkpoint} --task {params.task} --data {params.data_dir}"
        " --out {output} > {log} 2>&1"
