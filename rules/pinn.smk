# PINN on the 1-D convection problem: training over beta x lr x seed, error table.


rule train_pinn:
    output:
        model="results/pinn/beta{beta}_lr{lr}_seed{seed}/model.pt",
        metrics="results/pinn/beta{beta}_lr{lr}_seed{seed}/metrics.json",
    log:
        "results/logs/train_pinn/beta{beta}_lr{lr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train_pinn/beta{beta}_lr{lr}_seed{seed}.tsv"
    params:
        optimizer=config["pinn"]["optimizer"],
        iterations=config["pinn"]["iterations"],
        n_f=config["pinn"]["n_f"],
        collocation_seed=config["pinn"]["collocation_seed"],
        hidden=",".join(str(width) for width in config["pinn"]["hidden"]),
        activation=config["pinn"]["activation"],
        dtype=config["pinn"]["dtype"],
        device=lambda wildcards, resources: job_device(resources),
        outdir=lambda wildcards, output: os.path.dirname(output.model),
    threads: config["pinn"]["threads"]
    conda:
        "../envs/pinn.yaml"
    shell:
        "python -m losstopo train-pinn --beta {wildcards.beta} --lr {wildcards.lr}"
        " --seed {wildcards.seed} --optimizer {params.optimizer:q}"
        " --iterations {params.iterations:q} --n-f {params.n_f:q}"
        " --collocation-seed {params.collocation_seed:q} --hidden {params.hidden:q}"
        " --activation {params.activation:q} --dtype {params.dtype:q}"
        " --threads {threads} --device {params.device:q} --out {params.outdir:q}"
        " > {log:q} 2>&1"


rule pinn_errors:
    input:
        metrics=pinn_run_files("metrics.json"),
        code=package_sources("io/tables.py"),
    output:
        "results/tables/pinn_errors.csv",
    log:
        "results/logs/pinn_errors.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo pinn-table {input.metrics:q} --out {output:q} > {log:q} 2>&1"
