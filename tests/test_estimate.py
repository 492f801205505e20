"""Study cost estimate: reading the plan, parsing each job's command, the arithmetic of the
costs and the schedule (with fixed rates: no probes, no Snakemake)."""

from __future__ import annotations

import pytest

from losstopo.errors import LosstopoError
from losstopo.estimate.commands import invocations, split_commands
from losstopo.estimate.config import load_config
from losstopo.estimate.costs import (
    GENERIC_SECONDS,
    LANCZOS_EXTRA_HVPS,
    RUNNING_SLOWDOWN,
    curvature_hvps,
    landscape_points,
    speedup,
)
from losstopo.estimate.plan import checked_jobs, job_stats, parse_plan
from losstopo.estimate.prediction import predict, rule_counts
from losstopo.estimate.rates import Rate, UNetRate
from losstopo.estimate.report import report
from losstopo.estimate.schedule import critical_paths, wall_time
from losstopo.estimate.study import ObjectiveRef, Study
from losstopo.estimate.workspace import with_options

STAMP = "[Sun Dec  6 09:44:26 2026]"


def _block(rule: str, shell: str | None, local: bool = False, **fields: str) -> str:
    lines = [STAMP, f"{'localrule' if local else 'rule'} {rule}:"]
    lines += [f"    {key}: {value}" for key, value in fields.items()]
    lines.append(f"Shell command: {shell}")
    return "\n".join(lines) + "\n"


def _plan(*blocks: str) -> str:
    """A dry run's output (Snakemake 9, --printshellcmds) with its "Job stats" table."""
    rules = [b.splitlines()[1].split()[1].rstrip(":") for b in blocks]
    counts: dict[str, int] = {}
    for rule in rules:
        counts[rule] = counts.get(rule, 0) + 1
    table = ["Job stats:", "job          count", "---------  -------"]
    table += [f"{rule:<12} {n:>5}" for rule, n in counts.items()]
    table.append(f"{'total':<12} {sum(counts.values()):>5}")
    head = "Building DAG of jobs...\n" + "\n".join(table) + "\n\n\n"
    return head + "\n".join(blocks) + "\nThis was a dry-run (flag -n).\n"


LOG = "> log 2>&1"
CHAIN = _plan(
    _block(
        "train_pinn",
        f"python -m losstopo train-pinn --beta 1 --lr 1 --seed 0 --iterations 100 --threads 2"
        f" --out results/pinn/b1 {LOG}",
        output="results/pinn/b1/model.pt, results/pinn/b1/metrics.json",
        jobid="1",
        wildcards="beta=1, lr=1, seed=0",
        threads="2",
    ),
    _block(
        "hessian",
        f"python -m losstopo hessian results/pinn/b1/model.pt --top-k 3"
        f" --out results/pinn/b1/model/hessian.nc {LOG}",
        input="results/pinn/b1/model.pt",
        output="results/pinn/b1/model/hessian.nc",
        jobid="2",
        wildcards="problem=pinn, run=b1, ckpt=model",
    ),
    _block(
        "landscape",
        "python -m losstopo landscape results/pinn/b1/model.pt"
        " --directions results/pinn/b1/model/hessian.nc --dims 3 --resolution 11"
        f" --distance 0.1 --out results/pinn/b1/model/landscape.nc {LOG}",
        input="results/pinn/b1/model.pt, results/pinn/b1/model/hessian.nc",
        output="results/pinn/b1/model/landscape.nc",
        jobid="3",
    ),
    _block(
        "topology",
        "python -m losstopo topology results/pinn/b1/model/landscape.nc --connectivity full"
        f" --out results/pinn/b1/model/topology.nc {LOG}",
        input="results/pinn/b1/model/landscape.nc",
        output="results/pinn/b1/model/topology.nc",
        jobid="4",
    ),
    _block(
        "figure",
        "python -m losstopo figure profiles results/pinn/b1/model/topology.nc --columns 1"
        f" '--title=a: b' --out results/p.png results/p.pdf {LOG}",
        local=True,
        input="results/pinn/b1/model/topology.nc",
        output="results/p.png, results/p.pdf",
        jobid="5",
    ),
    _block(
        "sidecar",
        "sort results/p.png > results/side.txt",
        input="results/p.png",
        output="results/side.txt",
        jobid="6",
    ),
    _block("all", None, local=True, input="results/side.txt", jobid="0"),
)


class FixedRates:
    """Rates given by hand, recording what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def startup(self, kind: str) -> float:
        return {"torch": 2.0, "figure": 1.0, "table": 0.5, "none": 0.0}[kind]

    def pinn_iteration(self, call):
        return Rate(0.01, 0.1)

    def pets_image(self, call):
        return Rate(0.005)

    def unet_training(self, call):
        return UNetRate(0.02, 0.004)

    def hessian(self, objective, call):
        self.asked.append(("hessian", objective))
        return Rate(0.1, 0.5)

    def curvature(self, objective, call):
        self.asked.append(("curvature", objective))
        return Rate(0.1, 0.25)

    def landscape(self, objective, call):
        self.asked.append(("landscape", objective))
        return Rate(0.001, 0.2)

    def merge_tree(self, landscape, call):
        self.asked.append(("tree", int(landscape.args.dims)))
        return Rate(1e-4, 0.3)


def test_configs_merge_like_snakemake(repo):
    merged = load_config([repo / "config.yaml", repo / "configs/smoke.yaml"])
    assert merged["pinn"]["betas"] == [1, 30]  # lists replaced
    assert merged["pinn"]["iterations"] == 60
    assert merged["figures"]["profile_dims"] == 3  # nested mappings merged
    with pytest.raises(LosstopoError, match=r"missing\.yaml does not exist"):
        load_config([repo / "missing.yaml"])


def test_the_plan_is_read_job_by_job():
    jobs = parse_plan(CHAIN)
    assert [job.rule for job in jobs] == [
        "train_pinn",
        "hessian",
        "landscape",
        "topology",
        "figure",
        "sidecar",
        "all",
    ]
    train, hessian = jobs[0], jobs[1]
    assert train.jobid == 1 and train.threads == 2 and hessian.threads == 1
    assert train.outputs == ["results/pinn/b1/model.pt", "results/pinn/b1/metrics.json"]
    assert train.wildcards == {"beta": "1", "lr": "1", "seed": "0"}
    assert hessian.inputs == ["results/pinn/b1/model.pt"]
    assert jobs[-1].shell is None and jobs[-1].outputs == []
    assert dict(job_stats(CHAIN)) == {
        "train_pinn": 1,
        "hessian": 1,
        "landscape": 1,
        "topology": 1,
        "figure": 1,
        "sidecar": 1,
        "all": 1,
    }
    assert len(checked_jobs(CHAIN)) == 7


def test_a_plan_whose_blocks_disagree_with_its_job_stats_is_refused():
    broken = CHAIN.replace("rule hessian:", "hessian:")  # a block this reader cannot see
    with pytest.raises(LosstopoError, match="differ from the job blocks read"):
        checked_jobs(broken)
    assert checked_jobs("Building DAG of jobs...\nNothing to be done.\n") == []


def test_shell_commands_are_split_and_parsed_by_the_cli_parser():
    shell = (
        "set -e; python -m losstopo topology a.nc --k 2 --out t.nc > log 2>&1 && echo done;"
        " /venv/bin/losstopo hessian m.pt --top-k 4 --out h.nc 2>err"
    )
    assert split_commands(shell) == [
        ["set", "-e"],
        ["python", "-m", "losstopo", "topology", "a.nc", "--k", "2", "--out", "t.nc"],
        ["echo", "done"],
        ["/venv/bin/losstopo", "hessian", "m.pt", "--top-k", "4", "--out", "h.nc"],
    ]
    topology, hessian = invocations(shell)
    assert topology.command == "topology" and topology.args.k == 2
    assert topology.args.landscape == "a.nc"
    assert hessian.command == "hessian" and hessian.args.top_k == 4
    (figure,) = invocations(
        "python -m losstopo figure profiles t.nc --columns 2 '--title=x: y' --out a.png a.pdf"
    )
    assert figure.command == "figure profiles" and figure.args.title == "x: y"
    assert figure.args.out == ["a.png", "a.pdf"]
    (bad,) = invocations("python -m losstopo hessian m.pt --top-k many --out h.nc")
    assert bad.command == "hessian" and bad.args is None
    assert invocations("sort a > b") == [] and invocations(None) == []


def test_options_of_a_probe_are_replaced_added_or_removed():
    argv = ["landscape", "m.pt", "--dims", "3", "--resolution=9", "--out", "a.nc", "b.nc"]
    changed = with_options(argv, {"--resolution": "3", "--out": "x.nc", "--tiles": None})
    assert changed == ["landscape", "m.pt", "--dims", "3", "--resolution", "3", "--out", "x.nc"]
    assert with_options(["a", "--null-model"], {"--null-model": []}) == ["a", "--null-model"]


def test_each_job_is_costed_from_its_own_arguments():
    study = Study(checked_jobs(CHAIN))
    rates = FixedRates()
    prediction = predict(study, rates, cores=1)
    seconds = {c.job.rule: c.seconds / RUNNING_SLOWDOWN for c in prediction.jobs}
    # half of the 100-iteration budget, on 2 threads
    assert seconds["train_pinn"] == pytest.approx(2.0 + (0.1 + 50 * 0.01) / speedup(2))
    assert seconds["hessian"] == pytest.approx(2.0 + 0.5 + (3 + LANCZOS_EXTRA_HVPS) * 0.1)
    assert seconds["landscape"] == pytest.approx(2.0 + 0.2 + 11**3 * 0.001)
    # the merge tree of the landscape that the plan's landscape job writes: 11^3 vertices
    assert seconds["topology"] == pytest.approx(0.3 + 11**3 * 1e-4)
    assert seconds["figure"] == pytest.approx(1.0)
    assert seconds["sidecar"] == pytest.approx(2.0 + GENERIC_SECONDS)
    assert seconds["all"] == 0.0
    by_rule = prediction.by_rule()
    assert by_rule["sidecar"].generic == "runs no losstopo command"
    assert not by_rule["landscape"].generic
    # the analysis calls are costed on the objective of the checkpoint's training
    objectives = {kind: o for kind, o in rates.asked if kind != "tree"}
    assert objectives["hessian"].kind == "pinn" == objectives["landscape"].kind
    assert ("tree", 3) in rates.asked
    # a chain: one core or many, the jobs run one after another
    assert prediction.wall_seconds == pytest.approx(prediction.job_seconds)
    assert predict(study, rates, cores=4).wall_seconds == pytest.approx(prediction.job_seconds)
    text = report(prediction, predict(study, rates, cores=1, budget_fraction=1.0))
    assert "sidecar" in text and "* sidecar: generic cost" in text
    assert f"predicted wall time on 1 cores: {prediction.wall_seconds / 60:.1f} min" in text
    assert rule_counts(study)["topology"] == 1


def test_an_unknown_subcommand_gets_the_generic_cost():
    plan = _plan(
        _block("newstage", f"python -m losstopo frobnicate x.nc --out y.nc {LOG}", jobid="1"),
        _block("tiles", f"python -m losstopo landscape-merge a.nc b.nc --out c.nc {LOG}"),
    )
    prediction = predict(Study(checked_jobs(plan)), FixedRates(), cores=1)
    new, merge = prediction.jobs
    assert new.generic and "frobnicate" in new.detail
    assert new.seconds == pytest.approx((2.0 + GENERIC_SECONDS) * RUNNING_SLOWDOWN)
    assert not merge.generic and merge.seconds == pytest.approx((0.5 + 2 * 0.01) * RUNNING_SLOWDOWN)


def test_scattered_landscapes_are_costed_by_their_samples_and_curvature_by_its_budgets():
    plan = _plan(
        _block(
            "landscape",
            "python -m losstopo landscape m.pt --directions h.nc --dims 6 --sampling sobol"
            f" --n-points 1000 --center-points 24 --distance 0.1 --out l.nc {LOG}",
            output="l.nc",
        ),
        _block(
            "topology",
            f"python -m losstopo topology l.nc --connectivity knn --out t.nc {LOG}",
            input="l.nc",
        ),
        _block("hessian", f"python -m losstopo hessian m.pt --top-k 6 --out h.nc {LOG}"),
        _block(
            "curvature",
            "python -m losstopo curvature m.pt --directions h.nc --trace-min-probes 20"
            f" --slq-runs 3 --slq-steps 40 --out c.nc {LOG}",
            input="h.nc",
        ),
    )
    study = Study(checked_jobs(plan))
    landscape, topology, _, curvature = predict(study, FixedRates(), cores=1).jobs
    assert landscape_points(landscape.job.calls[0].args) == 1024
    assert landscape.seconds / RUNNING_SLOWDOWN == pytest.approx(2.0 + 0.2 + 1024 * 0.001)
    assert topology.seconds / RUNNING_SLOWDOWN == pytest.approx(0.3 + 1024 * 1e-4)
    # 20 trace probes plus the 6 deflated eigenvectors of its directions, and 3 x 40 SLQ steps
    assert curvature_hvps(curvature.job.calls[0].args, 6) == 146
    assert curvature.seconds / RUNNING_SLOWDOWN == pytest.approx(2.0 + 0.25 + 146 * 0.1)
    # a checkpoint no planned job writes is a file of its own model (probed as it is)
    assert study.objective_of(study.jobs[0], study.jobs[0].calls[0]) == ObjectiveRef(
        "file", family=".", factory=None
    )


def test_a_unet_run_is_costed_by_the_images_of_the_dataset_its_plan_makes():
    plan = _plan(
        _block(
            "make_pets",
            "python -m losstopo make-pets --out data/pets --n-trainval 100 --n-test 50"
            f" --size 32 {LOG}",
            output="data/pets/SYNTHETIC.json",
        ),
        _block(
            "train_unet",
            "python -m losstopo train-unet --data data/pets --lr 0.01 --seed 1 --epochs 4"
            f" --limit-test 20 --out runs/a {LOG}",
            input="data/pets/SYNTHETIC.json",
            output="runs/a/checkpoints/epoch_004.pt",
        ),
        _block(
            "hessian",
            "python -m losstopo hessian runs/a/checkpoints/epoch_004.pt --top-k 2"
            f" --objective-batch 8 --out h.nc {LOG}",
            input="runs/a/checkpoints/epoch_004.pt",
        ),
    )
    study = Study(checked_jobs(plan))
    rates = FixedRates()
    pets, train, hessian = predict(study, rates, cores=1).jobs
    assert pets.seconds / RUNNING_SLOWDOWN == pytest.approx(2.0 + 150 * 0.005)
    # 4 epochs of 100 images; both splits (20 test images) evaluated first, then the test split
    evaluated = 100 + 20 + 4 * 20
    expected = 2.0 + 4 * 100 * 0.02 + evaluated * 0.004
    assert train.seconds / RUNNING_SLOWDOWN == pytest.approx(expected)
    assert rates.asked[0][1].kind == "unet"
    assert hessian.detail == f"unet, {2 + LANCZOS_EXTRA_HVPS} HVPs"


def test_list_scheduling_respects_cores_threads_and_dependencies():
    assert wall_time([3, 2, 2], [1, 1, 1], [[], [], []], cores=1) == 7
    assert wall_time([3, 2, 2], [1, 1, 1], [[], [], []], cores=2) == 4
    assert wall_time([1, 1, 1], [1, 1, 1], [[], [0], [1]], cores=4) == 3
    # a 2-thread job holds both cores; more threads than cores run on all of them
    assert wall_time([2, 2], [2, 1], [[], []], cores=2) == 4
    assert wall_time([2], [8], [[]], cores=2) == 2
    assert wall_time([], [], [], cores=2) == 0
    # the long chain starts first: 5 + 1 on one core, the two 3 s jobs on the other
    assert wall_time([5, 1, 3, 3], [1] * 4, [[], [0], [], []], cores=2) == 6
    assert critical_paths([5, 1, 3], [[], [0], [1]]) == [9, 4, 3]
    with pytest.raises(ValueError, match="cycle"):
        critical_paths([1, 1], [[1], [0]])


def test_estimate_errors_name_the_file_at_fault(tmp_path, capsys):
    from losstopo.cli import main

    assert main(["estimate", "--counts-only", "--config", str(tmp_path / "no.yaml")]) == 2
    assert f"config file {tmp_path / 'no.yaml'} does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("pinn: [1\n")
    assert main(["estimate", "--counts-only", "--config", str(bad)]) == 2
    assert f"config file {bad} is not valid YAML" in capsys.readouterr().err
    assert main(["estimate", "--plan", str(tmp_path / "plan.txt")]) == 2
    assert f"--plan {tmp_path / 'plan.txt'} does not exist" in capsys.readouterr().err
    plan = tmp_path / "plan.txt"
    plan.write_text(CHAIN)
    out = tmp_path / "counts.txt"
    assert main(["estimate", "--plan", str(plan), "--counts-only", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "train_pinn       1" in printed and "total            7" in printed
    assert out.read_text() == printed
