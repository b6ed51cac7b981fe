"""The workflow's training on several GPUs and nodes and its search on several workers (issue #14):
a SLURM dry run shows the resources, the launcher and the update-freq each job will use."""

from __future__ import annotations

import pytest
from test_workflow import REPO, job_resources, per_rule, snakemake, write_override

TARGET = "results/wmt14ende/titanxp@200ms/bleu.txt"
SLURM = ("--executor", "slurm", "--jobs", "4", "--profile", str(REPO / "profiles/slurm"), "--dry-run")
TRAINING_RULES = ("train_supernet", "train_subtransformer")


def dry_run(tmp_path, config: str) -> str:
    override = write_override(tmp_path, config)
    configfiles = ("--configfile", str(REPO / "config/config.yaml"), str(override))
    result = snakemake(tmp_path, *configfiles, *SLURM, TARGET)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def shell_commands(output: str) -> dict[str, str]:
    """rule name -> its shell command, from a dry run with printshellcmds."""
    return per_rule(output, r"^Shell command: (.*)$")


def test_two_8_gpu_nodes_get_nodes_gres_and_one_srun_task_per_gpu(tmp_path):
    output = dry_run(
        tmp_path,
        """
        tasks:
          wmt14ende:
            budgets_ms: {titanxp: [200]}
            supernet: {gpus: 8, nodes: 2}
            subtransformer: {gpus: 8, nodes: 2}
            search: {workers: 4}
        """,
    )
    resources, commands = job_resources(output), shell_commands(output)
    for rule in TRAINING_RULES:
        fields = resources[rule].split(", ")
        assert {"nodes=2", "gres=gpu:8", "tasks_per_node=8", "mpi=srun"} <= set(fields), resources[rule]
        assert not any(field.startswith("gpu=") for field in fields)  # --gpus would be the total, not per node
        assert commands[rule].startswith(f"srun hat train {rule.removeprefix('train_')} ")
        assert "--gpus 8 --nodes 2 --override update-freq=8 " in commands[rule]  # 128 / 16 workers
    assert "gpu=4" in resources["search"].split(", ")
    assert "--workers 4 " in commands["search"]


def test_one_8_gpu_node_is_one_task_that_fairseq_spreads_over_its_gpus(tmp_path):
    output = dry_run(
        tmp_path,
        """
        tasks:
          wmt14ende:
            budgets_ms: {titanxp: [200]}
            supernet: {gpus: 8}
        """,
    )
    resources, commands = job_resources(output), shell_commands(output)
    fields = resources["train_supernet"].split(", ")
    assert {"gpu=8", "nodes=1"} <= set(fields) and not any(f.startswith(("mpi=", "gres=")) for f in fields)
    assert commands["train_supernet"].startswith("hat train supernet ")
    assert "--gpus 8 --nodes 1 --override update-freq=16 " in commands["train_supernet"]
    # the SubTransformer keeps the defaults: one GPU, HAT's 128 micro-batches in one worker
    assert "--gpus 1 --nodes 1 --override update-freq=128 " in commands["train_subtransformer"]


def test_an_update_freq_override_is_passed_as_it_is(tmp_path):
    output = dry_run(
        tmp_path,
        """
        tasks:
          wmt14ende:
            budgets_ms: {titanxp: [200]}
            supernet: {gpus: 4, overrides: {update-freq: 2}}
        """,
    )
    command = shell_commands(output)["train_supernet"]
    assert "--gpus 4 --nodes 1 " in command and command.count("update-freq") == 1
    assert "--override update-freq=2" in command


@pytest.mark.parametrize(
    ("section", "message"),
    [("{gpus: 1, nodes: 2}", "several nodes need >= 2 GPUs per node"), ("{gpus: 0}", "supernet.gpus")],
)
def test_impossible_worlds_are_config_errors(tmp_path, section, message):
    override = write_override(tmp_path, f"tasks:\n  wmt14ende:\n    supernet: {section}\n")
    configfiles = ("--configfile", str(REPO / "config/config.yaml"), str(override))
    result = snakemake(tmp_path, *configfiles, "--dry-run", TARGET)
    assert result.returncode != 0 and message in result.stdout + result.stderr


def test_slurm_plugin_turns_the_resources_into_sbatch_options():
    """The sbatch line the slurm plugin builds from a multi-node training job's resources."""
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        __getattr__ = dict.get

    resources = Resources(nodes=2, gres="gpu:8", tasks_per_node=8, mpi="srun", runtime=2880, mem_mb=64000)
    job = SimpleNamespace(resources=resources, threads=4, is_group=lambda: False, name="train_supernet")
    params = {
        "run_uuid": "x",
        "slurm_logfile": "log",
        "comment_str": "c",
        "account": "",
        "partition": "",
        "workdir": "",
    }
    call = get_submit_command(job, params) + set_gres_string(job)
    assert {"--nodes=2", "--ntasks-per-node=8", "--gres=gpu:8"} <= set(call.split())
    assert "--gpus" not in call and "--ntasks-per-gpu" not in call
