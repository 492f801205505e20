# The analysis of every checkpoint of every problem (PINN runs, UNet epochs, your own models):
# top-k Hessian eigenpairs, n-D landscapes along them, merge trees. One directory per
# checkpoint, results/{problem}/{run}/{ckpt}/; the per-problem choices come from
# that problem's config section through ANALYSIS (rules/common.smk).
from losstopo.workflow.resources import rule_memory

LANDSCAPE_TILES = config["landscape"]["tiles"]
LANDSCAPE = f"{ANALYSIS_DIR}/{LANDSCAPE_FILE}"
LANDSCAPE_NAME = f"{ANALYSIS_NAME}_{{dims}}d_d{{distance}}"
LANDSCAPE_PARAMS = dict(
    sampling=sampling,
    normalization=setting("normalization"),
    dtype=setting("landscape_dtype"),
    objective=setting("objective"),
    memory_budget=config["landscape"]["memory_budget_mb"],
    device=lambda wildcards, resources: job_device(resources),
)
LANDSCAPE_SHELL = (
    "python -m losstopo landscape {input.checkpoint:q} --directions {input.directions:q}"
    " --dims {wildcards.dims} {params.sampling:q}"
    " --distance {wildcards.distance} --normalization {params.normalization:q}"
    " --dtype {params.dtype:q} --memory-budget-mb {params.memory_budget} {params.objective:q}"
    " --null-model"
    " --threads {threads} --device {params.device:q}"
)


rule hessian:
    input:
        unpack(analysis_inputs),
    output:
        f"{ANALYSIS_DIR}/hessian.nc",
    log:
        logs("hessian"),
    benchmark:
        benchmarks("hessian")
    params:
        top_k=setting("top_k"),
        method=config["hessian"]["method"],
        which=config["hessian"]["which"],
        tol=config["hessian"]["tol"],
        max_hvp=config["hessian"]["max_hvp"],
        seed=config["hessian"]["seed"],
        dtype=setting("hessian_dtype"),
        objective=setting("objective"),
        device=lambda wildcards, resources: job_device(resources),
    threads: setting("hessian_threads")
    resources:
        gpu=stage_gpus("hessian"),
        mem_mb=rule_memory("hessian", STUDY, workflow.global_resources),
    conda:
        "../envs/hessian.yaml"
    shell:
        "python -m losstopo hessian {input.checkpoint:q} --top-k {params.top_k}"
        " --method {params.method:q} --which {params.which:q} --tol {params.tol}"
        " --max-hvp {params.max_hvp} --seed {params.seed} --dtype {params.dtype:q}"
        " {params.objective:q} --threads {threads} --device {params.device:q}"
        " --out {output:q} > {log:q} 2>&1"


rule curvature:
    input:
        unpack(landscape_inputs),
    output:
        f"{ANALYSIS_DIR}/curvature.nc",
    log:
        logs("curvature"),
    benchmark:
        benchmarks("curvature")
    params:
        options=curvature_options,
        dtype=setting("hessian_dtype"),
        objective=setting("objective"),
        device=lambda wildcards, resources: job_device(resources),
    threads: setting("hessian_threads")
    resources:
        gpu=stage_gpus("curvature"),
        mem_mb=rule_memory("curvature", STUDY, workflow.global_resources),
    conda:
        "../envs/hessian.yaml"
    shell:
        "python -m losstopo curvature {input.checkpoint:q} --directions {input.directions:q}"
        " {params.options:q} --dtype {params.dtype:q} {params.objective:q}"
        " --threads {threads} --device {params.device:q} --out {output:q} > {log:q} 2>&1"


if LANDSCAPE_TILES > 1:

    rule landscape_tile:
        input:
            unpack(landscape_inputs),
        output:
            f"{ANALYSIS_DIR}/{TILE_FILE}",
        log:
            logs("landscape", f"{LANDSCAPE_NAME}_tile{{tile}}"),
        benchmark:
            benchmarks("landscape", f"{LANDSCAPE_NAME}_tile{{tile}}")
        params:
            **LANDSCAPE_PARAMS,
            tiles=LANDSCAPE_TILES,
        threads: setting("landscape_threads")
        resources:
            gpu=stage_gpus("landscape"),
            mem_mb=rule_memory("landscape_tile", STUDY, workflow.global_resources),
        wildcard_constraints:
            dims=TILED_DIMS,
        conda:
            "../envs/landscape.yaml"
        shell:
            f"{LANDSCAPE_SHELL} --tiles {{params.tiles}} --tile {{wildcards.tile}}"
            " --out {output:q} > {log:q} 2>&1"

    rule landscape_merge:
        input:
            lambda wildcards: expand(
                f"{ANALYSIS_DIR}/{TILE_FILE}",
                tile=range(LANDSCAPE_TILES),
                **wildcards,
            ),
        output:
            LANDSCAPE,
        log:
            logs("landscape", f"{LANDSCAPE_NAME}_merge"),
        wildcard_constraints:
            dims=TILED_DIMS,
        conda:
            "../envs/landscape.yaml"
        shell:
            "python -m losstopo landscape-merge {input:q} --out {output:q} > {log:q} 2>&1"


rule landscape:
    input:
        unpack(landscape_inputs),
    output:
        LANDSCAPE,
    log:
        logs("landscape", LANDSCAPE_NAME),
    benchmark:
        benchmarks("landscape", LANDSCAPE_NAME)
    params:
        **LANDSCAPE_PARAMS,
    threads: setting("landscape_threads")
    resources:
        gpu=stage_gpus("landscape"),
        mem_mb=rule_memory("landscape", STUDY, workflow.global_resources),
    wildcard_constraints:
        dims=UNTILED_DIMS,
    conda:
        "../envs/landscape.yaml"
    shell:
        f"{LANDSCAPE_SHELL} --out {{output:q}} > {{log:q}} 2>&1"


TOPOLOGY_SOURCES = package_sources(
    "stages.py",
    "topology/mergetree.py",
    "topology/neighbors.py",
    "topology/simplify.py",
    "topology/summary.py",
    "topology/descriptors.py",
    "topology/null_model.py",
    "io/topology_file.py",
    "io/landscape_file.py",
    "io/netcdf.py",
)

rule topology:
    input:
        landscape=LANDSCAPE,
        code=TOPOLOGY_SOURCES,
    output:
        f"{ANALYSIS_DIR}/{TOPOLOGY_FILE}",
    log:
        logs("topology", f"{LANDSCAPE_NAME}_{{connectivity}}"),
    benchmark:
        benchmarks("topology", f"{LANDSCAPE_NAME}_{{connectivity}}")
    params:
        options=topology_options,
    resources:
        mem_mb=rule_memory("topology", STUDY, workflow.global_resources),
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology {input.landscape:q}"
        " --connectivity {wildcards.connectivity} {params.options:q} --out {output:q}"
        " > {log:q} 2>&1"
