# Deployment runtimes (docs/runtime.md): a run on hardware whose `measure` names runtime
# onnxruntime is exported to ONNX graphs at the hardware's precision, and its BLEU is scored on
# that export (rules/evaluate.smk). model.json, written last, stands for the whole directory.


rule export_onnx:
    input:
        "results/{task}/{hw}@{budget}/checkpoint.pt",
    output:
        "results/{task}/{hw}@{budget}/onnx/model.json",
    params:
        out_dir=lambda wildcards, output: str(Path(output[0]).parent),
        precision=lambda wildcards: deployment(wildcards.hw)[1],
    threads: 1
    resources:
        runtime=30,
    log:
        "logs/{task}/{hw}@{budget}/export_onnx.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat export --format onnx --checkpoint {input} --precision {params.precision} --out {params.out_dir} > {log} 2>&1"
