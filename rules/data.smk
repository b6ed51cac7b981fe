# Task data (spec §8): raw corpora (the demo is generated offline), then Moses/BPE/binarize.


localrules:
    download,


rule download:
    output:
        directory("resources/{task}/raw"),
    params:
        task=task_arg,
    log:
        "logs/{task}/download.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat data download --task {params.task} --out-dir {output} > {log} 2>&1"


rule prepare:
    input:
        "resources/{task}/raw",
    output:
        directory("results/{task}/data"),
    params:
        task=task_arg,
    threads: 8
    resources:
        runtime=240,
    log:
        "logs/{task}/prepare.log",
    benchmark:
        "benchmarks/{task}/prepare.tsv"
    conda:
        "../envs/hat.yaml"
    shell:
        "hat data prepare --task {params.task} --raw-dir {input} --out-dir {output} --threads {threads} > {log} 2>&1"
