# Topology tables: one generic rule over every table of merge-tree summaries that a problem
# plans (the PINN summary and extent study, the UNet checkpoints, each of your models), all
# written by `losstopo topology-table`; with config export.vtk, each merge tree's VTK files.

rule topology_table:
    input:
        topology=lambda wildcards: TOPOLOGY_TABLES[wildcards.table].files,
        # read from each checkpoint's directory beside its merge trees
        curvature=lambda wildcards: curvature_files(TOPOLOGY_TABLES[wildcards.table].files),
        code=package_sources("io/tables.py", "io/curvature_file.py"),
    output:
        "results/tables/{table}.csv",
    log:
        logs("topology_table", "{table}"),
    wildcard_constraints:
        table="|".join(re.escape(name) for name in TOPOLOGY_TABLES) or "^$",
    params:
        options=lambda wildcards: TOPOLOGY_TABLES[wildcards.table].options,
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo topology-table {input.topology:q} {params.options:q}"
        " --out {output:q} > {log:q} 2>&1"


rule export:
    input:
        landscape=LANDSCAPE,
        topology=f"{ANALYSIS_DIR}/{TOPOLOGY_FILE}",
    output:
        directory(export_dir(f"{ANALYSIS_DIR}/{TOPOLOGY_FILE}")),
    log:
        logs("export", f"{LANDSCAPE_NAME}_{{connectivity}}"),
    conda:
        "../envs/topology.yaml"
    shell:
        "mkdir -p {output:q} && python -m losstopo export {input.landscape:q}"
        " --topology {input.topology:q} --out {output:q}/landscape > {log:q} 2>&1"
