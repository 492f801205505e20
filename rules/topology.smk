# Topology tables: one generic rule over every table of merge-tree summaries (the PINN
# summary of the configured landscapes, the extent study, the UNet checkpoints, each of your
# models), all written by `losstopo topology-table`.

TOPOLOGY_TABLES = {
    **(
        {"topology_summary": pinn_topology_files(), "extent_study": extent_topology_files()}
        if config["pinn"]["enabled"]
        else {}
    ),
    **({"unet_topology_summary": unet_topology_files()} if UNET["enabled"] else {}),
    **{f"models/{name}_topology_summary": model_topology_files(name) for name in MODELS},
}


rule topology_table:
    input:
        topology=lambda wildcards: TOPOLOGY_TABLES[wildcards.table],
        # read from each checkpoint's directory beside its merge trees
        curvature=lambda wildcards: curvature_files(TOPOLOGY_TABLES[wildcards.table]),
        code=package_sources("io/tables.py", "io/curvature_file.py"),
    output:
        "results/tables/{table}.csv",
    log:
        logs("topology_table", "{table}"),
    wildcard_constraints:
        table="|".join(re.escape(name) for name in TOPOLOGY_TABLES) or "^$",
    params:
        regimes=regime_arguments(),
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology-table {input.topology:q} --regime {params.regimes:q}"
        " --out {output:q} > {log:q} 2>&1"
