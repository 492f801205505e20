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
            n_trainval=UNET["synthetic"]["n_trainval"],
            n_test=UNET["synthetic"]["n_test"],
            size=UNET["synthetic"]["size"],
            seed=UNET["synthetic"]["seed"],
        conda:
            "../envs/unet.yaml"
        shell:
            "python -m losstopo make-pets --out {params.out:q} --n-trainval {params.n_trainval}"
            " --n-test {params.n_test} --size {params.size} --seed {params.seed} > {log:q} 2>&1"


rule train_unet:
    input:
        UNET_DATA_INPUT,
    output:
        checkpoints=[
            f"results/unet/lr{{lr}}_seed{{seed}}/checkpoints/epoch_{epoch_label(e)}.pt"
            for e in range(UNET["epochs"] + 1)
        ],
        metrics="results/unet/lr{lr}_seed{seed}/metrics.csv",
        run="results/unet/lr{lr}_seed{seed}/run.json",
    log:
        "results/logs/train_unet/lr{lr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train_unet/lr{lr}_seed{seed}.tsv"
    params:
        data=lambda wildcards, input: unet_data_dir(input[0]),
        epochs=UNET["epochs"],
        batch_size=UNET["batch_size"],
        image_size=UNET["image_size"],
        width=UNET["width"],
        depth=UNET["depth"],
        crf_iterations=UNET["crf_iterations"],
        crf_taps=UNET["crf_taps"],
        crf_bilateral="--crf-bilateral" if UNET["crf_bilateral"] else "",
        weight_decay=UNET["weight_decay"],
        step_size=UNET["step_size"],
        gamma=UNET["gamma"],
        limit_trainval=UNET["limit_trainval"],
        limit_test=UNET["limit_test"],
        dtype=UNET["dtype"],
        device=lambda wildcards, resources: job_device(resources),
        outdir=lambda wildcards, output: os.path.dirname(output.metrics),
    threads: UNET["threads"]
    conda:
        "../envs/unet.yaml"
    shell:
        "python -m losstopo train-unet --data {params.data:q} --lr {wildcards.lr}"
        " --seed {wildcards.seed} --epochs {params.epochs} --batch-size {params.batch_size}"
        " --image-size {params.image_size} --width {params.width} --depth {params.depth}"
        " --crf-iterations {params.crf_iterations} --crf-taps {params.crf_taps}"
        " {params.crf_bilateral} --weight-decay {params.weight_decay}"
        " --step-size {params.step_size} --gamma {params.gamma}"
        " --limit-trainval {params.limit_trainval} --limit-test {params.limit_test}"
        " --dtype {params.dtype:q} --threads {threads} --device {params.device:q}"
        " --out {params.outdir:q} > {log:q} 2>&1"


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
