# BLEU of each trained SubTransformer (spec §6.3), and its profile.json: #params and FLOPs
# (spec §7) with the predicted latency and, where the hardware is measurable here, the latency
# the search measured (`hat search --measure`).


rule evaluate:
    input:
        checkpoint=lambda wildcards: deployed_model(f"results/{wildcards.task}/{wildcards.hw}@{wildcards.lat}ms"),
        data=DATA_MANIFEST,
    output:
        "results/{task}/{hw}@{lat}ms/bleu.txt",
    params:
        task=task_arg,
        data_dir=directory_of("data"),
        device=lambda wildcards: settings(wildcards.task)["device"],
        precision=lambda wildcards: f"--precision {deployment(wildcards.hw)[1]}",
    threads: 2
    resources:
        gpu=gpus,
        runtime=120,
    log:
        "logs/{task}/{hw}@{lat}ms/evaluate.log",
    benchmark:
        "benchmarks/{task}/{hw}@{lat}ms/evaluate.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "hat evaluate --task {params.task} --checkpoint {input.checkpoint} --data {params.data_dir} --out {output}"
        " --device {params.device} {params.precision} > {log} 2>&1"


localrules:
    profile,


rule profile:
    input:
        config="results/{task}/{hw}@{lat}ms/subtransformer.yml",
        search="results/{task}/{hw}@{lat}ms/subtransformer.json",
    output:
        "results/{task}/{hw}@{lat}ms/profile.json",
    params:
        task=task_arg,
    threads: 1
    resources:
        runtime=30,
    log:
        "logs/{task}/{hw}@{lat}ms/profile.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "(hat profile {input.config} --task {params.task}"
        " | hat report profile --search {input.search} --out {output}) 2> {log}"
