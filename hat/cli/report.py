"""`hat report ...`: the workflow's last stage, per run (profile.json) and per task (summary)."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    report = subparsers.add_parser("report", help="profile.json per run, summary.csv and plot per task")
    commands = report.add_subparsers(dest="report_command", required=True)

    summary = commands.add_parser("summary", help="summary.csv and the BLEU-vs-latency plot of a task's runs")
    summary.add_argument("--task", required=True, help="task name or task.yml (titles the plot)")
    summary.add_argument(
        "--runs", nargs="+", required=True, help="run directories results/T/HW@BUDGET and results/T/HW/baseline-NAME"
    )
    summary.add_argument("--out", required=True, help="summary CSV to write")
    summary.add_argument("--plot", required=True, help="BLEU-vs-latency PNG to write")
    summary.add_argument("--comparison", help="text file to write: per budget, the gain over the best baseline")
    summary.add_argument("--architectures", help="PNG to write: the table of every run's SubTransformer")
    summary.set_defaults(func=_summary)

    profile = commands.add_parser(
        "profile", help="merge `hat profile` JSON (stdin or --profile) with the search sidecar's latencies"
    )
    profile.add_argument("--profile", help="`hat profile` output (default: read stdin)")
    profile.add_argument("--search", required=True, help="the search sidecar subtransformer.json")
    profile.add_argument("--out", required=True, help="profile.json to write")
    profile.set_defaults(func=_profile)


def _summary(args) -> int:
    from hat.report import write_summary
    from hat.tasks import load_task

    rows = write_summary(args.runs, load_task(args.task).name, args.out, args.plot, args.comparison, args.architectures)
    extra = [path for path in (args.comparison, args.architectures) if path]
    print(f"wrote {args.out} ({len(rows)} runs), {', '.join([args.plot, *extra])}")
    return 0


def _profile(args) -> int:
    from hat.io import write_text_atomic
    from hat.report import merge_profile, parse_json_object, read_json_object

    profile = read_json_object(args.profile) if args.profile else parse_json_object(sys.stdin.read(), "stdin")
    merged = merge_profile(profile, read_json_object(args.search))
    write_text_atomic(args.out, json.dumps(merged, indent=1) + "\n")
    return 0
