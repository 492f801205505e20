# Figures, drawn only from cached artifacts (tables, netCDF files).


rule fig3_error_heatmap:
    input:
        table="results/tables/pinn_errors.csv",
        code=package_sources("io/tables.py", "plots/heatmap.py", "plots/common.py"),
    output:
        png=report(
            "results/figures/fig3_error_heatmap.png",
            caption="../report/fig3_error_heatmap.rst",
            category="PINN convection",
            subcategory="Fig. 3",
            labels={"figure": "Fig. 3 (left): error over beta x lr"},
        ),
        pdf="results/figures/fig3_error_heatmap.pdf",
    log:
        "results/logs/fig3_error_heatmap.log",
    params:
        highlight=[
            f"{cell['beta']:g}:{cell['lr']:g}" for cell in config["pinn"]["analysis"]["cells"]
        ],
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure pinn-heatmap {input.table:q} --highlight {params.highlight:q}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule fig_extent_study:
    input:
        table="results/tables/extent_study.csv",
        code=package_sources("plots/figures.py", "plots/common.py"),
    output:
        png=report(
            "results/figures/extent_study.png",
            caption="../report/extent_study.rst",
            category="PINN convection",
            subcategory="Landscape extent",
            labels={"figure": "extent study: shape descriptors by distance"},
        ),
        pdf="results/figures/extent_study.pdf",
    log:
        "results/logs/extent_study_figure.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure extent-study {input.table:q}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule fig_topology_vs_error:
    input:
        table="results/tables/topology_summary.csv",
        code=package_sources("plots/figures.py", "plots/common.py"),
    output:
        png=report(
            "results/figures/topology_vs_error.png",
            caption="../report/topology_vs_error.rst",
            category="PINN convection",
            subcategory="Topology vs performance",
            labels={"figure": "topology vs error: shape descriptors vs error"},
        ),
        pdf="results/figures/topology_vs_error.pdf",
    log:
        "results/logs/topology_vs_error.log",
    params:
        connectivity=CONNECTIVITY,
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure topology-vs-error {input.table:q}"
        " --connectivity {params.connectivity:q} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"
