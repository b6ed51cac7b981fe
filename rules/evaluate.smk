# BLEU of each trained SubTransformer (spec §6.3), and its profile.json: #params and FLOPs
# (spec §7), the budget and predicted latency from the search and, where the hardware is
# measurable here, the shipped checkpoint.pt itself timed with HAT's final-evaluation protocol.


rule evaluate:
    input:
        checkpoint=lambda wildcards: deployed_model(f"results/{wildcards.task}/{wildcards.hw}@{wildcards.budget}"),
        data=DATA_MANIFEST,
    output:
        "results/{task}/{hw}@{budget}/bleu.txt",
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
        "logs/{task}/{hw}@{budget}/evaluate.log",
    benchmark:
        "benchmarks/{task}/{hw}@{budget}/evaluate.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "hat evaluate --task {params.task} --checkpoint {input.checkpoint} --data {params.data_dir} --out {output}"
        " --device {params.device} {params.precision} > {log} 2>&1"


localrules:
    profile,


rule profile:
    input:
        unpack(measured_dataset),
        config="results/{task}/{hw}@{budget}/subtransformer.yml",
        search="results/{task}/{hw}@{budget}/subtransformer.json",
        checkpoint="results/{task}/{hw}@{budget}/checkpoint.pt",
    output:
        "results/{task}/{hw}@{budget}/profile.json",
    params:
        task=task_arg,
        latency=measure_latency_args,
        paired=paired_timing_args,
    threads: lambda wildcards: measuring_threads(wildcards.hw) if measured_device(wildcards.hw) else 1
    resources:
        runtime=30,
    log:
        "logs/{task}/{hw}@{budget}/profile.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "(hat profile {input.config} --task {params.task} --checkpoint {input.checkpoint} {params.latency} {params.paired}"
        " | hat report profile --search {input.search} --out {output}) 2> {log}"
