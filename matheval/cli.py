"""`matheval` command line: flags in, one call into the library, one line out.

`python -m evaluation.eval ...` and `matheval eval ...` share one parser, so the seed's commands and
ours accept exactly the same flags.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .errors import PROGRAM, UserError, error_line


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each flag's default, unless its help already says it or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is argparse.SUPPRESS
                or not action.option_strings or action.nargs == 0):  # nargs 0: a switch such as --no_progress
            return text
        return super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """Bad flags get one line that names the problem and the fix, and exit code 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_int_or_auto(text: str) -> int | str:
    """--batch_size and --data_parallel: a positive integer, or auto (the backend or the GPUs decide)."""
    if text == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None


def engine_args(text: str) -> dict:
    from .engines import parse_engine_args

    try:
        return parse_engine_args(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--engine_args ")) from None


def add_eval_flags(parser: argparse.ArgumentParser) -> None:
    from .engines import BACKENDS
    from .engines.base import DEFAULT_MAX_NEW_TOKENS
    from .models import DEFAULT_MODEL
    from .prompts import MODES

    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="short name (see `matheval models`), hub id org/name, or local checkpoint folder")
    parser.add_argument("--round", default="run", help="name of this evaluation round (first part of the results folder)")
    parser.add_argument("--dataset", default="synthetic",
                        help="benchmark name (see `matheval datasets`), a .jsonl/.json/.csv file of your own problems, "
                             "or several separated by commas (gsm8k,math500,aime25: one model load)")
    parser.add_argument("--count", type=positive_int, default=None, help="evaluate the first N problems (default: all)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="evaluate a random N problems drawn with --sample_seed (instead of the first --count)")
    parser.add_argument("--sample_seed", type=int, default=None, help="seed of the --limit subset (default 0)")
    parser.add_argument("--question_field", default=None,
                        help="a --dataset file's question field (default: found: question, problem, prompt, ...)")
    parser.add_argument("--answer_field", default=None,
                        help="a --dataset file's gold-answer field (default: found: answer, final_answer, ...; "
                             "'#### n' and \\boxed{} are read)")
    parser.add_argument("--id_field", default=None, help="a --dataset file's id field (default: id or idx, else the line)")
    parser.add_argument("--mode", default="standard", help=f"prompt mode: {', '.join(MODES)}")
    parser.add_argument("--detailed", type=parse_bool, default=False,
                        help="true: stream each response to the terminal (one problem at a time)")
    parser.add_argument("--batch_size", type=positive_int_or_auto, default=None,
                        help="sequences per static batch, or 'auto' (default 1: the seed's single-sample path; "
                             "backends that schedule their own batches do not use it)")
    parser.add_argument("--inference_backend", default="transformers", help=f"one of {', '.join(BACKENDS)}")
    parser.add_argument("--data_dir", default=None,
                        help="folder of local benchmark files (default: $MATHEVAL_DATA_DIR, else the hub)")
    parser.add_argument("--results_dir", default="results", help="where result folders go")
    parser.add_argument("--max_new_tokens", type=positive_int, default=None,
                        help=f"token cap per response (default: the preset's; matheval's is {DEFAULT_MAX_NEW_TOKENS})")
    parser.add_argument("--temperature", type=float, default=None, help="0 means greedy (default: the preset's)")
    parser.add_argument("--top_p", type=float, default=None,
                        help="nucleus sampling: the smallest set of likeliest tokens with this mass (default: the preset's)")
    add_preset_flags(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of every sampled call (reproducible runs)")
    parser.add_argument("--fewshot_k", type=positive_int, default=4, help="worked examples in --mode fewshot")
    parser.add_argument("--concurrency", type=positive_int, default=None,
                        help="problems in flight at once (default: enough to fill batches)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda if available)")
    parser.add_argument("--dtype", default=None, help="bfloat16, float16 or float32 (default: bf16 on GPU, fp32 on CPU)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch/OpenMP threads (default: the cores free to this process; see the log)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    parser.add_argument("--config", default=None, metavar="RUN.yaml",
                        help="a YAML file of these flags (name: value); flags on the command line win")
    parser.add_argument("--data_parallel", type=positive_int_or_auto, default=None,
                        help="N engine replicas, each in its own process on its own GPU(s) (or a share of the CPU "
                             "cores); auto: one per visible GPU (docs/scaling.md)")
    parser.add_argument("--ray_address", default=None,
                        help="place the replicas on this Ray cluster: auto, host:port or ray://host:port "
                             "(pip install 'matheval[ray]')")
    add_grader_flag(parser)
    add_backend_flags(parser)


def parse_thinking(text: str) -> bool:
    return parse_bool(text)


def add_preset_flags(parser: argparse.ArgumentParser) -> None:
    """The preset and each of its fields (docs/reasoning.md); a field given replaces the preset's."""
    group = parser.add_argument_group("preset (see `matheval presets`, docs/reasoning.md)")
    group.add_argument("--preset", default=None,
                       help="published prompt and sampling protocol (default: the model's, else matheval)")
    group.add_argument("--top_k", type=int, default=None, help="keep the k likeliest tokens (0: off)")
    group.add_argument("--system_prompt", default=None, help="system message ('' for none)")
    group.add_argument("--user_prompt", default=None, help="user message with {question} where the problem goes")
    group.add_argument("--prefill", default=None, help="text the response starts with, e.g. $'<think>\\n' in bash")
    group.add_argument("--thinking", type=parse_thinking, default=None,
                       help="true/false: the chat template's enable_thinking (Qwen3)")
    group.add_argument("--answer_cue", default=None, help="what budget forcing appends to a cut response")


def add_sampled_flags(parser: argparse.ArgumentParser) -> None:
    """The plain evaluation's samples per problem and budget curve (not the agents': they have --num_runs)."""
    group = parser.add_argument_group("sampled evaluation (docs/reasoning.md)")
    group.add_argument("--num_samples", type=positive_int, default=1,
                       help="samples per problem (one request, n=N): avg@N, pass@k, cons@k with intervals")
    group.add_argument("--pass_k", type=parse_int_list, default=None,
                       help="the k of pass@k and cons@k, comma list (default 1,2,4,...,N)")
    group.add_argument("--budgets", type=parse_budgets, default=None,
                       help="budget curve: auto (1k, 2k, ... the cap), off, or token budgets 1024,4096 "
                            "(default: auto for reasoning presets, else off)")


def parse_int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, got {text!r}")
    return values


def parse_budgets(text: str):
    return text if text in ("auto", "off") else parse_int_list(text)


def add_grader_flag(parser: argparse.ArgumentParser) -> None:
    from .grading.graders import DEFAULT_GRADER, GRADERS

    parser.add_argument("--grader", choices=GRADERS, default=DEFAULT_GRADER,
                        help="who decides correctness: matheval, plain math-verify, or lm-eval's GSM8K regexes "
                             "(needs the lm-eval extra); docs/grading.md")


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of particular backends; those given reach the backend through EngineOptions.extra
    (defaults are None, so a backend only ever sees what the user set; engines.base.SHARED_EXTRA)."""
    group = parser.add_argument_group("backend options (see docs/backends.md)")
    group.add_argument("--engine_args", type=engine_args, default=None, metavar="KEY=VALUE,...",
                       help="options of the backend itself, e.g. native: max_num_seqs=64,enforce_eager=true; vllm: "
                            "any vllm.LLM keyword; openai: request_timeout=120 (recorded in the manifest)")
    group.add_argument("--base_url", default=None,
                       help="openai: the server's URL, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL, "
                            "else that one); the API key comes from $OPENAI_API_KEY")
    group.add_argument("--api", choices=("chat", "completions"), default=None,
                       help="openai: send chat messages (default), or prompts rendered here with the model's chat "
                            "template")
    group.add_argument("--max_concurrency", type=positive_int, default=None,
                       help="openai: requests in flight at once (default 64)")
    group.add_argument("--tensor_parallel_size", type=positive_int, default=None, help="vllm: GPUs per model (default 1)")
    group.add_argument("--gpu_memory_utilization", type=float, default=None,
                       help="vllm: share of GPU memory for weights and KV cache (default 0.9)")
    group.add_argument("--max_model_len", type=positive_int, default=None,
                       help="vllm, native: context length (prompt + answer) to reserve cache for (default: the model's)")
    group.add_argument("--deterministic", action="store_const", const=True, default=None,
                       help="native: batch-invariant mode, the same tokens at any --concurrency (docs/backends.md)")


def backend_extra(args: argparse.Namespace) -> dict:
    names = ("base_url", "api", "max_concurrency", "tensor_parallel_size", "gpu_memory_utilization", "max_model_len",
             "deterministic")
    if getattr(args, "deterministic", None) and getattr(args, "inference_backend", "native") != "native":
        raise UserError("--deterministic is the native engine's mode (--inference_backend native); with transformers, "
                        "--dtype float32 is the reproducible path on a GPU")
    named = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    return {**(getattr(args, "engine_args", None) or {}), **named}


def eval_kwargs(args: argparse.Namespace, agent: str = "standard") -> dict:
    """The parsed flags as `matheval.evaluate` keywords (the API and the CLI run the same thing)."""
    kwargs = dict(
        model=args.model, round=args.round, dataset=args.dataset, count=args.count, mode=args.mode, agent=agent,
        backend=args.inference_backend, batch_size=args.batch_size, data_dir=args.data_dir,
        results_dir=args.results_dir, seed=args.seed, detailed=args.detailed, concurrency=args.concurrency,
        fewshot_k=args.fewshot_k, device=args.device, dtype=args.dtype, progress=not args.no_progress,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
        engine_options=backend_extra(args), threads=args.threads, limit=args.limit, sample_seed=args.sample_seed,
        question_field=args.question_field, answer_field=args.answer_field, id_field=args.id_field,
        command=" ".join([getattr(args, "prog", "matheval"), *getattr(args, "argv", [])]),
        data_parallel=args.data_parallel, ray_address=args.ray_address, grader=args.grader,
        preset=args.preset, top_k=args.top_k, system_prompt=args.system_prompt,
        user_prompt=args.user_prompt, prefill=args.prefill, thinking=args.thinking, answer_cue=args.answer_cue,
    )
    if hasattr(args, "num_samples"):  # the plain evaluation's flags
        kwargs.update(num_samples=args.num_samples, pass_k=args.pass_k, budgets=args.budgets)
    if hasattr(args, "agent"):  # the agent command's flags
        kwargs.update(num_runs=args.num_runs, max_iters=args.max_iters, rounds=args.rounds,
                      beam_width=args.beam_width, expansions=args.expansions, max_depth=args.max_depth,
                      max_calls=args.max_calls, verifier=args.verifier, sample_temperature=args.sample_temperature,
                      sample_top_p=args.sample_top_p)
    return kwargs


def eval_config(args: argparse.Namespace, agent: str = "standard"):
    from .api import eval_config as build

    return build(**eval_kwargs(args, agent))


def run_evaluations(kwargs: dict) -> int:
    """One dataset or several (one model load); a line per dataset."""
    from .api import evaluate_datasets
    from .evaluate import describe

    for outcome in evaluate_datasets(kwargs.pop("dataset"), **kwargs):
        print(describe(outcome))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    return run_evaluations(eval_kwargs(args))


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", default="standard", help="agent name (see `matheval agents`)")
    parser.add_argument("--num_runs", type=positive_int, default=4,
                        help="the agent's width: samples, debaters, candidates, program attempts")
    parser.add_argument("--max_iters", type=positive_int, default=3, help="self_refine / progressive_hint rounds")
    parser.add_argument("--rounds", type=positive_int, default=2, help="debate rounds after the first answers")
    parser.add_argument("--beam_width", type=positive_int, default=2, help="tree_search beams kept per depth")
    parser.add_argument("--expansions", type=positive_int, default=3, help="tree_search next steps tried per beam")
    parser.add_argument("--max_depth", type=positive_int, default=8, help="tree_search steps at most")
    parser.add_argument("--max_calls", type=positive_int, default=4, help="tool_integrated code executions at most")
    parser.add_argument("--verifier", default=None, help="best_of_n: judge model (default: the model itself)")
    parser.add_argument("--sample_temperature", type=float, default=None,
                        help="temperature of diverse samples (default: the preset's when it samples, else 0.7)")
    parser.add_argument("--sample_top_p", type=float, default=None,
                        help="top_p of diverse samples (default: the preset's when it samples, else 0.95)")


def cmd_agent(args: argparse.Namespace) -> int:
    return run_evaluations(eval_kwargs(args, agent=args.agent))


def cmd_agents(args: argparse.Namespace) -> int:
    from .agents import AGENTS

    for name, solve in AGENTS.items():
        doc = (sys.modules[solve.__module__].__doc__ or "").strip().splitlines()
        print(f"{name:22s} {doc[0] if doc else ''}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import MODELS, preset_for, resolve

    for name, hub_id in MODELS.items():
        preset = preset_for(resolve(name)) if name != "smollm2-135m" else None
        print(f"{name:32s} {hub_id:44s} preset {preset or 'matheval'}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .presets import PRESETS

    for preset in PRESETS.values():
        sampling = (f"temperature {preset.temperature}, top_p {preset.top_p}, top_k {preset.top_k}, "
                    f"max_new_tokens {preset.max_new_tokens}")
        print(f"{preset.name:20s} {preset.summary}")
        print(f"{'':20s} {sampling}; prefill {preset.prefill!r}; thinking {preset.thinking}; "
              f"source {', '.join(preset.sources) or 'matheval'}")
    return 0


def cmd_anchors(args: argparse.Namespace) -> int:
    from .anchors import table_lines

    for line in table_lines():
        print(line)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import DATASETS

    print(f"{'name':14s} {'problems':>8s}  {'local file under --data_dir':36s} {'hub id (without --data_dir)':32s} about")
    for name, spec in DATASETS.items():
        size = str(spec.size) if spec.size else "?"
        local = spec.local[0].format(split="test") if spec.local else "built in"
        hub = spec.hub.repo + (f" [{spec.hub.configs[0]}]" if spec.hub and spec.hub.configs[0] else "") \
            if spec.hub else ("generated" if spec.generate else "-")
        print(f"{name:14s} {size:>8s}  {local:36s} {hub:32s} {spec.description}")
    print("\nOr your own file: --dataset problems.jsonl (.json, .csv; fields found, or --question_field/--answer_field)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import main as check_main

    return check_main()


def add_bench_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="a local checkpoint (short name or folder) to benchmark")
    parser.add_argument("--dummy_config", default=None,
                        help="a config.json: random bf16 weights of that shape (e.g. benchmarks/configs/qwen2.5-1.5b.json)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder for --dummy_config (default: SmolLM2's)")
    parser.add_argument("--workload", default="throughput,short,gsm8k,agents",
                        help="comma list of throughput, short, gsm8k, agents, identity")
    parser.add_argument("--configs", default=None,
                        help="comma list: tf-b<N>, tf-auto, tf-compile, tf-continuous, native, native-eager, or a "
                             "backend name; name:w1+w2 measures only those workloads (default: the scale's plan, "
                             "most important first)")
    parser.add_argument("--scale", default="full", help="full (GPU) or tiny (CPU tests)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds: skip measurements that would end later; what was measured is written")
    parser.add_argument("--out", default="results/bench", help="folder of the raw JSON files")
    parser.add_argument("--results_md", default="results/bench/RESULTS.md", help="markdown file of the tables")
    parser.add_argument("--block", default=None, help="block of --results_md to replace (default: gpu or cpu)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda if available)")
    parser.add_argument("--data_dir", default=None, help="benchmark files (default: $MATHEVAL_DATA_DIR)")
    parser.add_argument("--work_dir", default=None, help="where the benchmark model folder is written (default: /tmp)")
    parser.add_argument("--tag", default=None, help="added to the JSON file names (a second run the same day)")
    parser.add_argument("--reasoning_prompts", type=positive_int, default=None,
                        help="measure the reasoning workload on its first N prompts, every sample of each "
                             "(default: all 30; the floor is then that subset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the workloads and engines")


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, run_bench

    split = lambda text: [part.strip() for part in text.split(",") if part.strip()]  # noqa: E731
    run_bench(BenchConfig(
        model=args.model, dummy_config=args.dummy_config, tokenizer=args.tokenizer, workloads=split(args.workload),
        configs=split(args.configs) if args.configs else None, scale=args.scale, deadline=args.deadline,
        out=args.out, results_md=args.results_md or None, block=args.block, device=args.device, seed=args.seed,
        data_dir=args.data_dir, work_dir=args.work_dir, tag=args.tag, reasoning_prompts=args.reasoning_prompts,
        command="matheval " + " ".join(args.argv), started=args.started))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import warnings, write_report

    output, configs = write_report(args.results_dirs, args.output, baseline=args.baseline)
    for line in warnings(configs):
        print(f"matheval: note: {line}", file=sys.stderr)
    print(f"report of {len(configs)} configurations -> {output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .report import load_configs, summary_tables, warnings
    from .report.export import as_csv, as_json

    configs = load_configs(args.results_dirs)
    if args.json or args.csv:
        sys.stdout.write(as_json(configs) if args.json else as_csv(configs))
        for line in warnings(configs):
            print(f"matheval: note: {line}", file=sys.stderr)
        return 0
    console = Console(width=None if sys.stdout.isatty() else 200)  # a file or pipe gets whole rows
    for table in summary_tables(configs):
        console.print(table)
    for line in warnings(configs):
        print(f"matheval: note: {line}", file=sys.stderr)
    return 0


def cmd_regrade(args: argparse.Namespace) -> int:
    from .regrade import describe, regrade

    for line in describe(regrade(args.results_dirs, grader=args.grader, audit=args.audit)):
        print(line)
    return 0


def add_report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dirs", nargs="+", metavar="RESULTS_DIR",
                        help="a results folder (every run folder inside it is read) or individual run folders")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = OneLineParser(prog="matheval", description="Evaluate math-reasoning models and inference-time agents.")
    parser.add_argument("--version", action="version", version=f"matheval {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    evaluate = commands.add_parser("eval", help="evaluate a model on a benchmark (the seed's evaluation.eval)")
    add_eval_flags(evaluate)
    add_sampled_flags(evaluate)
    evaluate.set_defaults(func=cmd_eval, parser=evaluate)
    agent = commands.add_parser("agent", help="evaluate an inference-time agent (the seed's evaluation.eval_agent)")
    add_eval_flags(agent)
    add_agent_flags(agent)
    agent.set_defaults(func=cmd_agent, parser=agent)
    bench = commands.add_parser("bench", help="measure engines and batch sizes (docs/benchmarks.md)")
    add_bench_flags(bench)
    bench.set_defaults(func=cmd_bench)
    report = commands.add_parser("report", help="one self-contained HTML page of result folders")
    add_report_flags(report)
    report.add_argument("-o", "--output", default=None,
                        help="the HTML file to write, or a folder for report.html (default: RESULTS_DIR/report.html)")
    report.add_argument("--baseline", default=None, metavar="NAME",
                        help="the configuration flips are counted against: its name on the page, e.g. standard "
                             "(default: the newest finished standard-mode run of each dataset)")
    report.set_defaults(func=cmd_report)
    compare = commands.add_parser("compare", help="the summary table of result folders in the terminal")
    add_report_flags(compare)
    form = compare.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object per configuration, for scripts")
    form.add_argument("--csv", action="store_true", help="one CSV row per configuration, for spreadsheets")
    compare.set_defaults(func=cmd_compare)
    regrade = commands.add_parser("regrade", help="grade saved responses again (no generation); --audit compares graders")
    add_report_flags(regrade)
    add_grader_flag(regrade)
    regrade.add_argument("--audit", action="store_true",
                         help="also grade every response with every available grader and list the disagreements")
    regrade.set_defaults(func=cmd_regrade)
    commands.add_parser("presets", help="list evaluation presets (prompt and sampling protocols) and their "
                        "sources").set_defaults(func=cmd_presets)
    commands.add_parser("anchors", help="list published scores matheval compares runs with").set_defaults(
        func=cmd_anchors)
    commands.add_parser("models", help="list model short names").set_defaults(func=cmd_models)
    commands.add_parser("agents", help="list agents").set_defaults(func=cmd_agents)
    commands.add_parser("datasets", help="list benchmarks").set_defaults(func=cmd_datasets)
    commands.add_parser("check", help="report vLLM, torch, CUDA, GPUs, sandbox; recommend a backend "
                        "(exit 0 when vLLM is usable)").set_defaults(func=cmd_check)
    return parser


def run(argv: list[str] | None, parser: argparse.ArgumentParser) -> int:
    """Parse and dispatch; user errors become one line on stderr and exit code 2."""
    started = time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    PROGRAM[0] = parser.prog
    try:
        if getattr(args, "config", None):  # the file's values become defaults; the command line still wins
            from .config_file import apply_config

            apply_config(getattr(args, "parser", parser), args.config)
            args = parser.parse_args(argv)
        args.started = started
        args.argv = argv
        args.prog = parser.prog
        return args.func(args)
    except UserError as exc:
        print(error_line(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return run(argv, build_parser())


def eval_main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.eval`: the seed's flags with no subcommand."""
    parser = OneLineParser(prog="python -m evaluation.eval", description="Evaluate a model on a math benchmark.")
    add_eval_flags(parser)
    add_sampled_flags(parser)
    parser.set_defaults(func=cmd_eval, parser=parser)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return run(argv, parser)


def eval_agent_main(argv: list[str] | None = None) -> int:
    """`python -m evaluation.eval_agent`: the seed's agent flags with no subcommand."""
    parser = OneLineParser(prog="python -m evaluation.eval_agent", description="Evaluate an inference-time agent.")
    add_eval_flags(parser)
    add_agent_flags(parser)
    parser.set_defaults(func=cmd_agent, parser=parser)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return run(argv, parser)


if __name__ == "__main__":
    sys.exit(main())
