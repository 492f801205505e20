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


PROFILE_SOURCES = package_sources(
    "plots/figures.py",
    "plots/profile.py",
    "plots/common.py",
    "topology/profile.py",
    "topology/descriptors.py",
    "topology/simplify.py",
    "io/topology_file.py",
)
PROFILE_OPTIONS = dict(
    linear="" if config["figures"]["log_loss"] else "--linear",
    threshold=config["figures"]["profile_threshold"],
    order=config["figures"]["child_order"],
)
PROFILE_SHELL = (
    "python -m losstopo figure profiles {input.topology:q} --columns {params.columns}"
    " --row-labels {params.rows:q} --column-labels {params.columns_text:q}"
    " {params.linear} --threshold {params.threshold} --order {params.order:q}"
    " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
)
CELL_LABELS = [cell_label(cell) for cell in config["pinn"]["analysis"]["cells"]]
SEED_LABELS = [f"seed {seed}" for seed in config["pinn"]["analysis"]["seeds"]]


FIG3_TOPOLOGY = profile_topology_files([config["figures"]["profile_dims"]])
FIGA5_TOPOLOGY = profile_topology_files(config["figures"]["compare_dims"], by_dimension_rows=True)


rule fig3_profiles:
    input:
        topology=FIG3_TOPOLOGY,
        landscapes=profile_landscape_files(FIG3_TOPOLOGY),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/fig3_profiles.png",
            caption="../report/fig3_profiles.rst",
            category="PINN convection",
            subcategory="Fig. 3",
            labels={"figure": "Fig. 3 (right): profiles by regime and seed"},
        ),
        pdf="results/figures/fig3_profiles.pdf",
    log:
        "results/logs/fig3_profiles.log",
    params:
        **PROFILE_OPTIONS,
        columns=len(config["pinn"]["analysis"]["seeds"]),
        rows=CELL_LABELS,
        columns_text=SEED_LABELS,
    conda:
        "../envs/figures.yaml"
    shell:
        PROFILE_SHELL


rule figA5_profiles_by_dimension:
    input:
        topology=FIGA5_TOPOLOGY,
        landscapes=profile_landscape_files(FIGA5_TOPOLOGY),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/figA5_profiles_by_dimension.png",
            caption="../report/figA5_profiles_by_dimension.rst",
            category="PINN convection",
            subcategory="Fig. A.5",
            labels={"figure": "Fig. A.5: profiles by landscape dimension"},
        ),
        pdf="results/figures/figA5_profiles_by_dimension.pdf",
    log:
        "results/logs/figA5_profiles_by_dimension.log",
    params:
        **PROFILE_OPTIONS,
        columns=len(analysis_run_dirs()),
        rows=[f"{dims}-D" for dims in config["figures"]["compare_dims"]],
        columns_text=[
            f"{label.split(':')[0]}, seed {seed}"
            for label in CELL_LABELS
            for seed in config["pinn"]["analysis"]["seeds"]
        ],
    conda:
        "../envs/figures.yaml"
    shell:
        PROFILE_SHELL


rule fig_extent_profiles:
    input:
        topology=extent_profile_files(),
        landscapes=profile_landscape_files(extent_profile_files()),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/extent_profiles.png",
            caption="../report/extent_profiles.rst",
            category="PINN convection",
            subcategory="Landscape extent",
            labels={"figure": "extent study: profiles by distance"},
        ),
        pdf="results/figures/extent_profiles.pdf",
    log:
        "results/logs/extent_profiles.log",
    params:
        **PROFILE_OPTIONS,
        columns=len(EXTENT_DISTANCES),
        rows=CELL_LABELS,
        columns_text=[f"distance {d}" for d in EXTENT_DISTANCES],
    conda:
        "../envs/figures.yaml"
    shell:
        PROFILE_SHELL


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


rule fig_model_profiles:
    input:
        topology=lambda wildcards: model_topology_files(wildcards.name),
        landscapes=lambda wildcards: profile_landscape_files(
            model_topology_files(wildcards.name)
        ),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/models/{name}_profiles.png",
            caption="../report/model_profiles.rst",
            category="Your models",
            labels={"figure": "profiles of {name}"},
        ),
        pdf="results/figures/models/{name}_profiles.pdf",
    log:
        logs("model_profiles", "{name}"),
    wildcard_constraints:
        name="|".join(re.escape(name) for name in MODELS) or "^$",
    params:
        **PROFILE_OPTIONS,
        columns=lambda wildcards: len(MODELS[wildcards.name]["files"]),
        rows=lambda wildcards: [f"{dims}-D" for dims in MODELS[wildcards.name]["dims"]],
        columns_text=lambda wildcards: list(MODELS[wildcards.name]["files"]),
        title=lambda wildcards: f"{wildcards.name}: profiles by checkpoint",
    conda:
        "../envs/figures.yaml"
    shell:
        PROFILE_SHELL.replace(" --out ", " --title {params.title:q} --out ")
