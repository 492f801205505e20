# UNet-CRF segmentation study: data, training over epochs (a checkpoint per epoch, analysed
# by rules/analysis.smk) and the accuracy table; its figures are in rules/figures.smk and
# rules/profiles.smk.


if UNET_SYNTHETIC:

    rule make_pets:
        output:
            f"{UNET_DATA}/SYNTHETIC.json",
        log:
            "results/logs/make_pets.log",
        benchmark:
            "results/benchmarks/make_pets.tsv"
        params:
            out=lambda wildcards, output: os.path.dirname(output[0]),
            options=cli_options(UNET["synthetic"], ["n_trainval", "n_test", "size", "seed"]),
        conda:
            "../envs/unet.yaml"
        shell:
            "python -m losstopo make-pets --out {params.out:q} {params.options:q} > {log:q} 2>&1"


rule train_unet:
    input:
        UNET_DATA_INPUT,
    output:
        checkpoints=[
            f"results/unet/{UNET_RUN}/checkpoints/epoch_{epoch_label(e)}.pt"
            for e in range(UNET["epochs"] + 1)
        ],
        metrics=f"results/unet/{UNET_RUN}/metrics.csv",
        run=f"results/unet/{UNET_RUN}/run.json",
    log:
        logs("train_unet", UNET_RUN),
    benchmark:
        benchmarks("train_unet", UNET_RUN)
    params:
        data=lambda wildcards, input: unet_data_dir(input[0]),
        options=cli_options(UNET, UNET_TRAINING_OPTIONS),
        device=lambda wildcards, resources: job_device(resources),
        outdir=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: UNET["threads"]
    conda:
        "../envs/unet.yaml"
    shell:
        "python -m losstopo train-unet --data {params.data:q} --lr {wildcards.lr}"
        " --seed {wildcards.seed} {params.options:q} --threads {threads}"
        " --device {params.device:q} --out {params.outdir:q} > {log:q} 2>&1"


rule unet_accuracy:
    input:
        metrics=[f"{run}/metrics.csv" for run in unet_runs()],
        runs=[f"{run}/run.json" for run in unet_runs()],
        code=package_sources("io/tables.py"),
    output:
        "results/tables/unet_accuracy.csv",
    log:
        "results/logs/unet_accuracy.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo unet-table {input.metrics:q} --out {output:q} > {log:q} 2>&1"
