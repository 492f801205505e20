# Merge trees of every landscape (one job per connectivity), the summary table of the
# configured landscapes and the extent-study table.

TOPOLOGY_SOURCES = package_sources(
    "topology/mergetree.py",
    "topology/neighbors.py",
    "topology/simplify.py",
    "topology/summary.py",
    "topology/descriptors.py",
    "topology/topology_file.py",
)


rule topology:
    input:
        landscape=f"{PINN_RUN}/landscape_{{dims}}d_d{{distance}}.nc",
        code=TOPOLOGY_SOURCES,
    output:
        f"{PINN_RUN}/topology_{{dims}}d_d{{distance}}_{{connectivity}}.nc",
    log:
        f"results/logs/topology/{LANDSCAPE_NAME}_{{connectivity}}.log",
    benchmark:
        f"results/benchmarks/topology/{LANDSCAPE_NAME}_{{connectivity}}.tsv"
    params:
        k=("--k {}".format(config["topology"]["k"]) if config["topology"]["k"] else ""),
        symmetrize=config["topology"]["symmetrize"],
        threshold=config["topology"]["persistence_threshold"],
        relative="--relative" if config["topology"]["relative"] else "",
        summary_threshold=config["topology"]["summary_threshold"],
        log_threshold=config["topology"]["log_threshold"],
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology {input.landscape:q}"
        " --connectivity {wildcards.connectivity} {params.k}"
        " --symmetrize {params.symmetrize:q} --persistence-threshold {params.threshold}"
        " {params.relative} --summary-threshold {params.summary_threshold}"
        " --log-threshold {params.log_threshold} --out {output:q} > {log:q} 2>&1"


rule topology_summary:
    input:
        topology=pinn_topology_files(),
        code=package_sources("tables.py"),
    output:
        "results/tables/topology_summary.csv",
    log:
        "results/logs/topology_summary.log",
    params:
        regimes=regime_arguments(),
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology-table {input.topology:q} --regime {params.regimes:q}"
        " --out {output:q} > {log:q} 2>&1"


rule extent_study:
    input:
        topology=extent_topology_files(),
        code=package_sources("tables.py"),
    output:
        "results/tables/extent_study.csv",
    log:
        "results/logs/extent_study.log",
    params:
        regimes=regime_arguments(),
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology-table {input.topology:q} --regime {params.regimes:q}"
        " --out {output:q} > {log:q} 2>&1"
