# Task data (spec §8): raw corpora (the demo is generated offline), then Moses/BPE/binarize.
# Each directory's manifest.json (written last by `hat data`) is the declared output, never the
# directory itself: a failed job then leaves the resume state (partial downloads, finished
# preprocessing steps) in place instead of Snakemake deleting the whole directory.
# A task's data_source hat-preprocessed fetches HAT's binarized bundle instead (docs/data.md).


localrules:
    download,


rule download:
    output:
        "resources/{task}/raw/manifest.json",
    params:
        task=task_arg,
        raw_dir=lambda wildcards, output: str(Path(output[0]).parent),
        preprocessed=preprocessed_flag,
    log:
        "logs/{task}/download.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat data download --task {params.task} --out-dir {params.raw_dir} {params.preprocessed} > {log} 2>&1"


rule prepare:
    input:
        raw="resources/{task}/raw/manifest.json",
    output:
        DATA_MANIFEST,
    params:
        task=task_arg,
        raw_dir=directory_of("raw"),
        data_dir=lambda wildcards, output: str(Path(output[0]).parent),
        preprocessed=preprocessed_flag,
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
        "hat data prepare --task {params.task} --raw-dir {params.raw_dir} --out-dir {params.data_dir}"
        " --threads {threads} {params.preprocessed} > {log} 2>&1"
