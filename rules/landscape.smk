# n-D loss landscapes of each analysed run along its top Hessian eigenvectors.


LANDSCAPE_TILES = config["landscape"]["tiles"]


if LANDSCAPE_TILES > 1:

    rule landscape_tile:
        input:
            checkpoint="results/pinn/beta{beta}_lr{lr}_seed{seed}/model.pt",
            directions="results/pinn/beta{beta}_lr{lr}_seed{seed}/hessian.nc",
        output:
            "results/pinn/beta{beta}_lr{lr}_seed{seed}/tiles/landscape_{dims}d_tile{tile}.nc",
        log:
            "results/logs/landscape/beta{beta}_lr{lr}_seed{seed}_{dims}d_tile{tile}.log",
        benchmark:
            "results/benchmarks/landscape/beta{beta}_lr{lr}_seed{seed}_{dims}d_tile{tile}.tsv"
        params:
            resolution=lambda wildcards: landscape_resolution(wildcards.dims),
            distance=config["landscape"]["distance"],
            normalization=config["landscape"]["normalization"],
            dtype=config["landscape"]["dtype"],
            memory_budget=config["landscape"]["memory_budget_mb"],
            device=lambda wildcards, resources: job_device(resources),
            tiles=LANDSCAPE_TILES,
        threads: config["landscape"]["threads"]
        conda:
            "../envs/landscape.yaml"
        shell:
            "python -m losstopo landscape {input.checkpoint} --directions {input.directions}"
            " --dims {wildcards.dims} --resolution {params.resolution}"
            " --distance {params.distance} --normalization {params.normalization}"
            " --dtype {params.dtype} --memory-budget {params.memory_budget}"
            " --threads {threads} --device {params.device}"
            " --tiles {params.tiles} --tile {wildcards.tile} --out {output} > {log} 2>&1"


    rule landscape_merge:
        input:
            lambda wildcards: expand(
                "results/pinn/beta{beta}_lr{lr}_seed{seed}/tiles/landscape_{dims}d_tile{tile}.nc",
                tile=range(LANDSCAPE_TILES),
                **wildcards,
            ),
        output:
            "results/pinn/beta{beta}_lr{lr}_seed{seed}/landscape_{dims}d.nc",
        log:
            "results/logs/landscape/beta{beta}_lr{lr}_seed{seed}_{dims}d_merge.log",
        conda:
            "../envs/landscape.yaml"
        shell:
            "python -m losstopo landscape-merge {input} --out {output} > {log} 2>&1"

else:

    rule landscape:
        input:
            checkpoint="results/pinn/beta{beta}_lr{lr}_seed{seed}/model.pt",
            directions="results/pinn/beta{beta}_lr{lr}_seed{seed}/hessian.nc",
        output:
            "results/pinn/beta{beta}_lr{lr}_seed{seed}/landscape_{dims}d.nc",
        log:
            "results/logs/landscape/beta{beta}_lr{lr}_seed{seed}_{dims}d.log",
        benchmark:
            "results/benchmarks/landscape/beta{beta}_lr{lr}_seed{seed}_{dims}d.tsv"
        params:
            resolution=lambda wildcards: landscape_resolution(wildcards.dims),
            distance=config["landscape"]["distance"],
            normalization=config["landscape"]["normalization"],
            dtype=config["landscape"]["dtype"],
            memory_budget=config["landscape"]["memory_budget_mb"],
            device=lambda wildcards, resources: job_device(resources),
        threads: config["landscape"]["threads"]
        conda:
            "../envs/landscape.yaml"
        shell:
            "python -m losstopo landscape {input.checkpoint} --directions {input.directions}"
            " --dims {wildcards.dims} --resolution {params.resolution}"
            " --distance {params.distance} --normalization {params.normalization}"
            " --dtype {params.dtype} --memory-budget {params.memory_budget}"
            " --threads {threads} --device {params.device} --out {output} > {log} 2>&1"
