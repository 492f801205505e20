# Top-k Hessian eigenpairs of each analysed run's loss (hessian.nc next to its checkpoint).


rule hessian:
    input:
        "results/pinn/beta{beta}_lr{lr}_seed{seed}/model.pt",
    output:
        "results/pinn/beta{beta}_lr{lr}_seed{seed}/hessian.nc",
    log:
        "results/logs/hessian/beta{beta}_lr{lr}_seed{seed}.log",
    benchmark:
        "results/benchmarks/hessian/beta{beta}_lr{lr}_seed{seed}.tsv"
    params:
        top_k=max(grid["dims"] for grid in config["landscape"]["grids"]),
        method=config["hessian"]["method"],
        which=config["hessian"]["which"],
        tol=config["hessian"]["tol"],
        max_hvp=config["hessian"]["max_hvp"],
        seed=config["hessian"]["seed"],
        dtype=config["hessian"]["dtype"],
        device=lambda wildcards, resources: job_device(resources),
    threads: config["hessian"]["threads"]
    conda:
        "../envs/hessian.yaml"
    shell:
        "python -m losstopo hessian {input:q} --top-k {params.top_k:q} --method {params.method:q}"
        " --which {params.which:q} --tol {params.tol:q} --max-hvp {params.max_hvp:q}"
        " --seed {params.seed:q} --dtype {params.dtype:q} --threads {threads}"
        " --device {params.device:q} --out {output:q} > {log:q} 2>&1"
