"""HAT as one cached DAG: raw data -> SuperTransformer -> latency data -> predictor -> search ->
SubTransformer -> BLEU, for every task x hardware x latency budget (docs/workflow.md).

Every rule calls the `hat` command; this file only wires files together. Run from the repo root:
`snakemake --cores 2` (the offline demo) or any artifact as a target, e.g.
`snakemake --cores 8 results/wmt14ende/titanxp@200ms/bleu.txt` (an absolute budget) or
`snakemake --cores 2 results/demo/cpu@50pct/bleu.txt` (halfway through the achievable range).
"""

from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# Relative to this file, so `--directory` may point anywhere; `--configfile` replaces it.
configfile: Path(workflow.basedir) / "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/restart.smk"


validate_config(Path(workflow.basedir) / "config/schema.json")
TASKS = list(config["tasks"])
HARDWARE = config["hardware"]
check_config_references()


wildcard_constraints:
    task=alternatives(TASKS),
    hw=alternatives(HARDWARE),
    budget=BUDGET,
    scale=r"\d+",


include: "rules/data.smk"
include: "rules/supernet.smk"
include: "rules/latency.smk"
include: "rules/predictor.smk"
include: "rules/search.smk"
include: "rules/subtransformer.smk"
include: "rules/runtime.smk"
include: "rules/evaluate.smk"
include: "rules/baseline.smk"
include: "rules/report.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        default_targets(),
