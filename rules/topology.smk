# Merge trees of every landscape and the table of their summaries.


rule topology:
    input:
        landscape="results/pinn/beta{beta}_lr{lr}_seed{seed}/landscape_{dims}d.nc",
        code=package_sources(
            "topology/mergetree.py",
            "topology/neighbors.py",
            "topology/simplify.py",
            "topology/summary.py",
            "topology/topology_file.py",
        ),
    output:
        "results/pinn/beta{beta}_lr{lr}_seed{seed}/topology_{dims}d.nc",
    log:
        "results/logs/topology/beta{beta}_lr{lr}_seed{seed}_{dims}d.log",
    benchmark:
        "results/benchmarks/topology/beta{beta}_lr{lr}_seed{seed}_{dims}d.tsv"
    params:
        connectivity=config["topology"]["connectivity"],
        k=("--k {}".format(config["topology"]["k"]) if config["topology"]["k"] else ""),
        symmetrize=config["topology"]["symmetrize"],
        threshold=config["topology"]["persistence_threshold"],
        relative="--relative" if config["topology"]["relative"] else "",
        summary_threshold=config["topology"]["summary_threshold"],
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology {input.landscape} --connectivity {params.connectivity}"
        " {params.k} --symmetrize {params.symmetrize}"
        " --persistence-threshold {params.threshold} {params.relative}"
        " --summary-threshold {params.summary_threshold} --out {output} > {log} 2>&1"


rule topology_summary:
    input:
        topology=pinn_topology_files(),
        metrics=pinn_analysis_files("metrics.json"),
        code=package_sources("tables.py"),
    output:
        "results/tables/topology_summary.csv",
    log:
        "results/logs/topology_summary.log",
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology-table {input.topology} --metrics {input.metrics}"
        " --out {output} > {log} 2>&1"
