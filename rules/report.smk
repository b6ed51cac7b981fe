# Per task: summary.csv (one row per run: BLEU, latency, #params, FLOPs) and the BLEU-vs-latency
# plot of the runs listed in the task's budgets_ms and budgets_pct and of its uniformly scaled
# baselines (rules/baseline.smk), with the search's gain over the baselines per budget, and the
# table of the runs' SubTransformers (where searches under one budget, e.g. in two runtimes, differ).


localrules:
    summary,


rule summary:
    input:
        bleu=lambda wildcards: [f"{run}/bleu.txt" for run in summary_dirs(wildcards.task)],
        profile=lambda wildcards: [f"{run}/profile.json" for run in summary_dirs(wildcards.task)],
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
        comparison=report(
            "results/{task}/search_vs_baselines.txt",
            caption="../workflow/report/comparison.rst",
            category="BLEU vs latency",
            labels={"task": "{task}", "figure": "gain over baselines"},
        ),
        architectures=report(
            "results/{task}/architectures.png",
            caption="../workflow/report/architectures.rst",
            category="BLEU vs latency",
            labels={"task": "{task}", "figure": "architectures"},
        ),
    params:
        task=task_arg,
        runs=lambda wildcards: summary_dirs(wildcards.task),
    log:
        "logs/{task}/summary.log",
    conda:
        "../envs/hat.yaml"
    shell:
        "hat report summary --task {params.task} --runs {params.runs} --out {output.table} --plot {output.plot}"
        " --comparison {output.comparison} --architectures {output.architectures} > {log} 2>&1"
