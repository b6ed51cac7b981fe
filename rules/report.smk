# Per task: summary.csv (one row per run: BLEU, latency, #params, FLOPs) and the BLEU-vs-latency
# plot of the runs listed in the task's budgets_ms.


localrules:
    summary,


rule summary:
    input:
        bleu=lambda wildcards: [f"{run}/bleu.txt" for run in run_dirs(wildcards.task)],
        profile=lambda wildcards: [f"{run}/profile.json" for run in run_dirs(wildcards.task)],
    output:
        table=report(
            "results/{task}/summary.csv",
            caption="../workflow/report/summary.rst",
            category="BLEU vs latency",
            labels={"task": "{task}", "figure": "table"},
        ),
        plot=report(
            "results/{task}/bleu_vs_latency.png",
            caption="../workflow/report/front.rst",
            category="BLEU vs latency",
            labels={"task": "{task}", "figure": "front"},
        ),
    params:
        task=task_arg,
        runs=lambda wildcards: run_dirs(wildcards.task),
    log:
        "logs/{task}/summary.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat report summary --task {params.task} --runs {params.runs} --out {output.table} --plot {output.plot} > {log} 2>&1"
