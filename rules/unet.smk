# UNet-CRF segmentation study: data, training over epochs (a checkpoint per epoch, analysed
# by rules/analysis.smk) and the accuracy table; its tables and figures are planned by
# losstopo.workflow.problems.unet.
from losstopo.workflow.paths import UNET_CHECKPOINT, UNET_RUN, UNET_RUN_DIR, epoch_name
from losstopo.workflow.problems import unet as unet_study
from losstopo.workflow.resources import rule_memory

UNET = config["unet"]
UNET_DATA_INPUT = unet_study.data_input(config)


if unet_study.synthetic(config):

    rule make_pets:
        output:
            UNET_DATA_INPUT,
        log:
            "results/logs/make_pets.log",
        benchmark:
            "results/benchmarks/make_pets.tsv"
        params:
            out=lambda wildcards, output: os.path.dirname(output[0]),
            options=cli_options(UNET["synthetic"], ["n_trainval", "n_test", "size", "seed"]),
        resources:
            mem_mb=rule_memory("make_pets", STUDY, workflow.global_resources),
        conda:
            "../envs/unet.yaml"
        shell:
            "python -m losstopo make-pets --out {params.out:q} {params.options:q} > {log:q} 2>&1"


rule train_unet:
    input:
        UNET_DATA_INPUT,
    output:
        checkpoints=[
            f"{UNET_RUN_DIR}/{UNET_CHECKPOINT.format(ckpt=epoch_name(epoch))}"
            for epoch in range(UNET["epochs"] + 1)
        ],
        metrics=f"{UNET_RUN_DIR}/metrics.csv",
        run=f"{UNET_RUN_DIR}/run.json",
    log:
        logs("train_unet", UNET_RUN),
    benchmark:
        benchmarks("train_unet", UNET_RUN)
    params:
        data=lambda wildcards, input: unet_study.dataset_of(config, input[0]),
        options=cli_options(UNET, unet_study.TRAINING_OPTIONS),
        device=lambda wildcards, resources: job_device(resources),
        outdir=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: UNET["threads"]
    resources:
        gpu=int(any(stage.startswith("unet:") for stage in config["gpu_stages"])),
        mem_mb=rule_memory("train_unet", STUDY, workflow.global_resources),
    conda:
        "../envs/unet.yaml"
    shell:
        "python -m losstopo train-unet --data {params.data:q} --lr {wildcards.lr}"
        " --seed {wildcards.seed} {params.options:q} --threads {threads}"
        " --device {params.device:q} --out {params.outdir:q} > {log:q} 2>&1"


rule unet_accuracy:
    input:
        metrics=[f"{run}/metrics.csv" for run in unet_study.run_dirs(config)],
        runs=[f"{run}/run.json" for run in unet_study.run_dirs(config)],
        code=package_sources("io/tables.py"),
    output:
        "results/tables/unet_accuracy.csv",
    log:
        "results/logs/unet_accuracy.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo unet-table {input.metrics:q} --out {output:q} > {log:q} 2>&1"
