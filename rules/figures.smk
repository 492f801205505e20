# Figures, drawn only from cached artifacts (tables, netCDF files).


rule fig3_error_heatmap:
    input:
        table="results/tables/pinn_errors.csv",
        code=package_sources("tables.py", "plots/heatmap.py", "plots/common.py"),
    output:
        png=report(
            "results/figures/fig3_error_heatmap.png",
            caption="../report/fig3_error_heatmap.rst",
            category="PINN convection",
            subcategory="Fig. 3",
        ),
        pdf="results/figures/fig3_error_heatmap.pdf",
    log:
        "results/logs/fig3_error_heatmap.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure pinn-heatmap {input.table} --out {output.png} {output.pdf}"
        " > {log} 2>&1"


PROFILE_SOURCES = package_sources(
    "plots/figures.py",
    "plots/profile.py",
    "plots/common.py",
    "topology/profile.py",
    "topology/simplify.py",
    "topology/topology_file.py",
)


rule fig3_profiles:
    input:
        panels=profile_panel_files([config["figures"]["profile_dims"]]),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/fig3_profiles.png",
            caption="../report/fig3_profiles.rst",
            category="PINN convection",
            subcategory="Fig. 3",
        ),
        pdf="results/figures/fig3_profiles.pdf",
    log:
        "results/logs/fig3_profiles.log",
    params:
        panels=profile_panels([config["figures"]["profile_dims"]]),
        columns=len(config["pinn"]["analysis"]["seeds"]),
        linear="" if config["figures"]["log_loss"] else "--linear",
        threshold=config["figures"]["profile_threshold"],
        order=config["figures"]["child_order"],
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure profiles {params.panels} --columns {params.columns}"
        " {params.linear} --threshold {params.threshold} --order {params.order}"
        " --out {output.png} {output.pdf} > {log} 2>&1"


rule figA5_profiles_by_dimension:
    input:
        panels=profile_panel_files(config["figures"]["compare_dims"]),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/figA5_profiles_by_dimension.png",
            caption="../report/figA5_profiles_by_dimension.rst",
            category="PINN convection",
            subcategory="Fig. A.5",
        ),
        pdf="results/figures/figA5_profiles_by_dimension.pdf",
    log:
        "results/logs/figA5_profiles_by_dimension.log",
    params:
        panels=profile_panels(config["figures"]["compare_dims"]),
        columns=len(config["figures"]["compare_dims"]),
        linear="" if config["figures"]["log_loss"] else "--linear",
        threshold=config["figures"]["profile_threshold"],
        order=config["figures"]["child_order"],
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure profiles {params.panels} --columns {params.columns}"
        " {params.linear} --threshold {params.threshold} --order {params.order}"
        " --out {output.png} {output.pdf} > {log} 2>&1"


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
        ),
        pdf="results/figures/topology_vs_error.pdf",
    log:
        "results/logs/topology_vs_error.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure topology-vs-error {input.table}"
        " --out {output.png} {output.pdf} > {log} 2>&1"
