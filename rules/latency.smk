# Latency datasets (spec §3): results/{task}/latency/{hw}.csv, obtained the way config's
# hardware.<hw> says. Measured hardware gets one rule each (latency_measure_<hw>), so each carries
# its own placement resources; HAT's published CSVs and user CSVs are local rules.

PUBLISHED = [hw for hw in HARDWARE if hardware_source(hw) == "published"]
USER_CSV = [hw for hw in HARDWARE if hardware_source(hw) == "csv"]


for measured_hw in [hw for hw in HARDWARE if hardware_source(hw) == "measure"]:

    rule:
        name:
            f"latency_measure_{measured_hw}"
        input:
            data=DATA_MANIFEST,
        output:
            f"results/{{task}}/latency/{measured_hw}.csv",
        params:
            task=task_arg,
            data_dir=directory_of("data"),
            device=HARDWARE[measured_hw]["measure"]["device"],
            torch_threads=HARDWARE[measured_hw]["measure"].get("threads", 1),
            samples=lambda wildcards: stage(wildcards.task, "latency")["samples"],
            seed=lambda wildcards: stage(wildcards.task, "latency")["seed"],
            runtime=runtime_args(measured_hw),
        threads: measuring_threads(measured_hw)
        resources:
            gpu=int(measured_device(measured_hw) == "cuda"),
            **HARDWARE[measured_hw].get("resources", {}),
        log:
            f"logs/{{task}}/latency_{measured_hw}.log",
        benchmark:
            f"benchmarks/{{task}}/latency_{measured_hw}.tsv"
        conda:
            "../envs/hat.yaml"
        shell:
            "hat latency dataset --task {params.task} --data {params.data_dir} --device {params.device}"
            " --samples {params.samples} --seed {params.seed} --threads {params.torch_threads} {params.runtime}"
            " --no-progress --out {output} > {log} 2>&1"


localrules:
    latency_fetch_published,
    latency_user_csv,


rule latency_fetch_published:
    output:
        "results/{task}/latency/{hw}.csv",
    wildcard_constraints:
        hw=alternatives(PUBLISHED),
    params:
        task=task_arg,
        hardware=lambda wildcards: HARDWARE[wildcards.hw]["published"]["hardware"],
    log:
        "logs/{task}/latency_{hw}.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat latency fetch-published --task {params.task} --hardware {params.hardware} --out {output} > {log} 2>&1"


rule latency_user_csv:
    input:
        lambda wildcards: HARDWARE[wildcards.hw]["csv"],
    output:
        "results/{task}/latency/{hw}.csv",
    wildcard_constraints:
        hw=alternatives(USER_CSV),
    log:
        "logs/{task}/latency_{hw}.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "cp {input} {output} 2> {log}"
