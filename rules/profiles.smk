# Topological landscape profile figures: one rule draws every grid of profiles (Fig. 3, Fig.
# A.5, the extent study, Fig. 4, Fig. B.6 and one figure per model of yours) from cached
# merge trees; PROFILE_FIGURES lists each figure's panels, labels and report entry.

PROFILE_SOURCES = package_sources(
    "plots/figures.py",
    "plots/profile.py",
    "plots/common.py",
    "topology/profile.py",
    "topology/descriptors.py",
    "topology/simplify.py",
    "io/topology_file.py",
)
CELL_LABELS = [cell_label(cell) for cell in config["pinn"]["analysis"]["cells"]]
SEED_LABELS = [f"seed {seed}" for seed in config["pinn"]["analysis"]["seeds"]]
UNET_DATA_LABEL = " (SYNTHETIC data)" if UNET_SYNTHETIC else ""
FIG4_DIRS = [
    f"{unet_run_dir(UNET['figures']['profile_lr'], seed)}/epoch_{epoch_label(epoch)}"
    for seed in UNET["figures"]["profile_seeds"]
    for epoch in UNET["figures"]["profile_epochs"]
]
FIGB6_DIRS = [
    f"{unet_run_dir(lr, UNET['figures']['compare_seed'])}/epoch_{epoch_label(epoch)}"
    for lr in UNET["learning_rates"]
    for epoch in UNET["figures"]["compare_epochs"]
]


PROFILE_FIGURES = {
    "fig3_profiles": profile_figure(
        profile_topology_files([config["figures"]["profile_dims"]]),
        len(config["pinn"]["analysis"]["seeds"]),
        CELL_LABELS,
        SEED_LABELS,
        "PINN convection",
        "Fig. 3",
        "Fig. 3 (right): profiles by regime and seed",
    ),
    "figA5_profiles_by_dimension": profile_figure(
        profile_topology_files(config["figures"]["compare_dims"], by_dimension_rows=True),
        len(analysis_run_dirs()),
        [f"{dims}-D" for dims in config["figures"]["compare_dims"]],
        [
            f"{label.split(':')[0]}, seed {seed}"
            for label in CELL_LABELS
            for seed in config["pinn"]["analysis"]["seeds"]
        ],
        "PINN convection",
        "Fig. A.5",
        "Fig. A.5: profiles by landscape dimension",
    ),
    "extent_profiles": profile_figure(
        extent_profile_files(),
        len(EXTENT_DISTANCES),
        CELL_LABELS,
        [f"distance {d}" for d in EXTENT_DISTANCES],
        "PINN convection",
        "Landscape extent",
        "extent study: profiles by distance",
    ),
    "fig4_profiles": profile_figure(
        unet_topology_files(FIG4_DIRS),
        len(UNET["figures"]["profile_epochs"]),
        [f"seed {seed}" for seed in UNET["figures"]["profile_seeds"]],
        [f"epoch {epoch}" for epoch in UNET["figures"]["profile_epochs"]],
        "UNet-CRF segmentation",
        "Fig. 4",
        "Fig. 4 (right): profiles over training",
        f"UNet-CRF profiles over training, lr={UNET['figures']['profile_lr']:g}"
        f"{UNET_DATA_LABEL}",
    ),
    "figB6_profiles_by_lr": profile_figure(
        unet_topology_files(FIGB6_DIRS),
        len(UNET["figures"]["compare_epochs"]),
        [f"lr={lr:g}" for lr in UNET["learning_rates"]],
        [f"epoch {epoch}" for epoch in UNET["figures"]["compare_epochs"]],
        "UNet-CRF segmentation",
        "Fig. B.6",
        "Fig. B.6: profiles across learning rates",
        f"UNet-CRF profiles across learning rates, seed {UNET['figures']['compare_seed']}"
        f"{UNET_DATA_LABEL}",
    ),
    **{
        f"models/{name}_profiles": profile_figure(
            model_topology_files(name),
            len(MODELS[name]["files"]),
            [f"{dims}-D" for dims in MODELS[name]["dims"]],
            list(MODELS[name]["files"]),
            "Your models",
            name,
            f"profiles of {name}",
            f"{name}: profiles by checkpoint",
        )
        for name in MODELS
    },
}


rule profile_figure:
    input:
        topology=profile_setting("topology"),
        landscapes=lambda wildcards: profile_landscape_files(
            PROFILE_FIGURES[wildcards.figure]["topology"]
        ),
        code=PROFILE_SOURCES,
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/profiles.rst",
            category=profile_setting("category"),
            subcategory=profile_setting("subcategory"),
            labels=lambda wildcards: {"figure": PROFILE_FIGURES[wildcards.figure]["label"]},
        ),
        pdf="results/figures/{figure}.pdf",
    log:
        logs("profile_figure", "{figure}"),
    wildcard_constraints:
        figure="|".join(re.escape(name) for name in PROFILE_FIGURES),
    params:
        columns=profile_setting("columns"),
        rows=profile_setting("rows"),
        columns_text=profile_setting("columns_text"),
        title=profile_setting("title"),
        linear="" if config["figures"]["log_loss"] else "--linear",
        threshold=config["figures"]["profile_threshold"],
        order=config["figures"]["child_order"],
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure profiles {input.topology:q} --columns {params.columns}"
        " --row-labels {params.rows:q} --column-labels {params.columns_text:q}"
        " {params.linear} --threshold {params.threshold} --order {params.order:q}"
        " {params.title:q} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
