"""HAT as one cached DAG: raw data -> SuperTransformer -> latency data -> predictor -> search ->
SubTransformer -> BLEU, for every task x hardware x latency budget (docs/workflow.md).

Every rule calls the `hat` command; this file only wires files together. Run from the repo root:
`snakemake --cores 2` (the offline demo) or any artifact as a target, e.g.
`snakemake --cores 8 results/wmt14ende/titanxp@200ms/bleu.txt`.
"""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.json")


report: "workflow/report/workflow.rst"


include: "rules/common.smk"


check_config_references()


wildcard_constraints:
    task=alternatives(TASKS),
    hw=alternatives(HARDWARE),
    lat=r"\d+(\.\d+)?",


include: "rules/data.smk"
include: "rules/supernet.smk"
include: "rules/latency.smk"
include: "rules/predictor.smk"
include: "rules/search.smk"
include: "rules/subtransformer.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        default_targets(),
