# n-D loss landscapes of each analysed run along its top Hessian eigenvectors, at the
# configured distance and at every distance of the extent study.


LANDSCAPE_TILES = config["landscape"]["tiles"]
PINN_RUN = "results/pinn/beta{beta}_lr{lr}_seed{seed}"
LANDSCAPE_NAME = "beta{beta}_lr{lr}_seed{seed}_{dims}d_d{distance}"
LANDSCAPE_PARAMS = dict(
    resolution=lambda wildcards: landscape_resolution(wildcards.dims),
    normalization=config["landscape"]["normalization"],
    dtype=config["landscape"]["dtype"],
    memory_budget=config["landscape"]["memory_budget_mb"],
)
LANDSCAPE_SHELL = (
    "python -m losstopo landscape {input.checkpoint:q} --directions {input.directions:q}"
    " --dims {wildcards.dims} --resolution {params.resolution}"
    " --distance {wildcards.distance} --normalization {params.normalization:q}"
    " --dtype {params.dtype:q} --memory-budget {params.memory_budget}"
    " --threads {threads} --device {params.device:q}"
)


if LANDSCAPE_TILES > 1:

    rule landscape_tile:
        input:
            checkpoint=f"{PINN_RUN}/model.pt",
            directions=f"{PINN_RUN}/hessian.nc",
        output:
            f"{PINN_RUN}/tiles/landscape_{{dims}}d_d{{distance}}_tile{{tile}}.nc",
        log:
            f"results/logs/landscape/{LANDSCAPE_NAME}_tile{{tile}}.log",
        benchmark:
            f"results/benchmarks/landscape/{LANDSCAPE_NAME}_tile{{tile}}.tsv"
        params:
            **LANDSCAPE_PARAMS,
            device=lambda wildcards, resources: job_device(resources),
            tiles=LANDSCAPE_TILES,
        threads: config["landscape"]["threads"]
        conda:
            "../envs/landscape.yaml"
        shell:
            f"{LANDSCAPE_SHELL} --tiles {{params.tiles}} --tile {{wildcards.tile}}"
            " --out {output:q} > {log:q} 2>&1"


    rule landscape_merge:
        input:
            lambda wildcards: expand(
                f"{PINN_RUN}/tiles/landscape_{{dims}}d_d{{distance}}_tile{{tile}}.nc",
                tile=range(LANDSCAPE_TILES),
                **wildcards,
            ),
        output:
            f"{PINN_RUN}/landscape_{{dims}}d_d{{distance}}.nc",
        log:
            f"results/logs/landscape/{LANDSCAPE_NAME}_merge.log",
        conda:
            "../envs/landscape.yaml"
        shell:
            "python -m losstopo landscape-merge {input:q} --out {output:q} > {log:q} 2>&1"

else:

    rule landscape:
        input:
            checkpoint=f"{PINN_RUN}/model.pt",
            directions=f"{PINN_RUN}/hessian.nc",
        output:
            f"{PINN_RUN}/landscape_{{dims}}d_d{{distance}}.nc",
        log:
            f"results/logs/landscape/{LANDSCAPE_NAME}.log",
        benchmark:
            f"results/benchmarks/landscape/{LANDSCAPE_NAME}.tsv"
        params:
            **LANDSCAPE_PARAMS,
            device=lambda wildcards, resources: job_device(resources),
        threads: config["landscape"]["threads"]
        conda:
            "../envs/landscape.yaml"
        shell:
            f"{LANDSCAPE_SHELL} --out {{output:q}} > {{log:q}} 2>&1"
