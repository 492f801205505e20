# PINN on the 1-D convection problem: training over beta x lr x seed, error table.
from losstopo.workflow.paths import PINN_RUN, PINN_RUN_DIR
from losstopo.workflow.problems import pinn as pinn_study
from losstopo.workflow.resources import rule_memory


rule train_pinn:
    output:
        model=f"{PINN_RUN_DIR}/model.pt",
        metrics=f"{PINN_RUN_DIR}/metrics.json",
    log:
        logs("train_pinn", PINN_RUN),
    benchmark:
        benchmarks("train_pinn", PINN_RUN)
    params:
        options=cli_options(
            config["pinn"],
            ["optimizer", "iterations", "n_f", "collocation_seed", "hidden", "activation", "dtype"],
        ),
        device=lambda wildcards, resources: job_device(resources),
        outdir=lambda wildcards, output: os.path.dirname(output.model),
    threads: config["pinn"]["threads"]
    resources:
        mem_mb=rule_memory("train_pinn", STUDY, workflow.global_resources),
    conda:
        "../envs/pinn.yaml"
    shell:
        "python -m losstopo train-pinn --beta {wildcards.beta} --lr {wildcards.lr}"
        " --seed {wildcards.seed} {params.options:q} --threads {threads}"
        " --device {params.device:q} --out {params.outdir:q} > {log:q} 2>&1"


rule pinn_errors:
    input:
        metrics=pinn_study.run_files(config, "metrics.json"),
        code=package_sources("io/tables.py"),
    output:
        "results/tables/pinn_errors.csv",
    log:
        "results/logs/pinn_errors.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo pinn-table {input.metrics:q} --out {output:q} > {log:q} 2>&1"
