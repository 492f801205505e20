# Every figure, drawn only from cached artifacts by `losstopo figure <kind>`: heat maps,
# topology vs performance and the extent study from one table each, and the grids of
# topological landscape profiles (Fig. 3, Fig. A.5, the extent study, Fig. 4, Fig. B.6, one
# per model of yours) from merge trees. FIGURES lists each figure's inputs, arguments and
# report entry; one rule draws them all.

TABLE_FIGURES = {
    "fig3_error_heatmap": table_figure(
        "pinn-heatmap",
        "pinn_errors",
        ["io/tables.py", "plots/heatmap.py"],
        "PINN convection",
        "Fig. 3",
        "Fig. 3 (left): error over beta x lr",
        [
            "--highlight",
            *(f"{cell['beta']:g}:{cell['lr']:g}" for cell in config["pinn"]["analysis"]["cells"]),
        ],
    ),
    "extent_study": table_figure(
        "extent-study",
        "extent_study",
        ["plots/extent.py", "plots/topology_vs_metric.py", "plots/profile_grid.py"],
        "PINN convection",
        "Landscape extent",
        "extent study: shape descriptors by distance",
    ),
    "topology_vs_error": table_figure(
        "topology-vs-metric",
        "topology_summary",
        ["plots/topology_vs_metric.py", "plots/profile_grid.py"],
        "PINN convection",
        "Topology vs performance",
        "topology vs error: shape descriptors vs error",
        ["--metric", "relative_l2_error", "--colour-by", "beta,lr", "--marker-by", "dims"]
        + ["--connectivity", CONNECTIVITY],
    ),
    "null_calibration": table_figure(
        "null-calibration",
        "topology_summary",
        ["plots/calibration.py"],
        "PINN convection",
        "Calibration",
        "critical points of the loss and of its null model",
    ),
    "claims": table_figure(
        "claims",
        "claims",
        ["plots/claims.py"],
        "PINN convection",
        "Claims",
        "the paper's claims: effects, intervals over seeds, verdicts",
    ),
    "fig4_accuracy_heatmap": table_figure(
        "unet-heatmap",
        "unet_accuracy",
        ["io/tables.py", "plots/heatmap.py"],
        "UNet-CRF segmentation",
        "Fig. 4",
        "Fig. 4 (left): accuracy over lr x epoch",
    ),
    "unet_topology_vs_accuracy": table_figure(
        "topology-vs-metric",
        "unet_topology_summary",
        ["plots/topology_vs_metric.py", "plots/profile_grid.py"],
        "UNet-CRF segmentation",
        "Topology vs performance",
        "topology vs accuracy: UNet-CRF checkpoints",
        ["--metric", "test_pixel_accuracy", "--colour-by", "lr", "--marker-by", "epoch"]
        + ["--panels", "basin_depth_decades", "basin_fraction", "n_minima_above_log"]
        + ["top_eigenvalue"],
    ),
    **(
        {
            "curvature_vs_error": table_figure(
                "topology-vs-metric",
                "topology_summary",
                ["plots/topology_vs_metric.py", "plots/profile_grid.py"],
                "PINN convection",
                "Curvature",
                "curvature vs error: top eigenvalue, trace, negative mass",
                ["--metric", "relative_l2_error", "--colour-by", "beta,lr", "--marker-by", "dims"]
                + ["--panels", "top_eigenvalue", "hessian_trace", "esd_negative_mass"]
                + ["basin_depth_decades", "--connectivity", CONNECTIVITY]
                + ["--dims", str(config["figures"]["profile_dims"])],
            ),
            "unet_curvature_vs_accuracy": table_figure(
                "topology-vs-metric",
                "unet_topology_summary",
                ["plots/topology_vs_metric.py", "plots/profile_grid.py"],
                "UNet-CRF segmentation",
                "Curvature",
                "curvature vs accuracy: UNet-CRF checkpoints",
                ["--metric", "test_pixel_accuracy", "--colour-by", "lr", "--marker-by", "epoch"]
                + ["--panels", "top_eigenvalue", "hessian_trace", "esd_negative_mass"]
                + ["basin_depth_decades"],
            ),
        }
        if CURVATURE["enabled"]
        else {}
    ),
    **{
        f"models/{name}_topology_vs_metric": table_figure(
            "topology-vs-metric",
            f"models/{name}_topology_summary",
            ["plots/topology_vs_metric.py", "plots/profile_grid.py"],
            "Your models",
            name,
            f"topology vs {entry['metric']} of {name}",
            ["--metric", entry["metric"], "--colour-by", "run", "--marker-by", "dims"],
        )
        for name, entry in MODELS.items()
        if entry["metric"]
    },
}
PROFILE_SOURCES = package_sources(
    "io/panels.py",
    "plots/profile_grid.py",
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
    **(
        {
            "fig3_profiles_near": profile_figure(
                near_profile_files(),
                len(config["pinn"]["analysis"]["seeds"]),
                CELL_LABELS,
                SEED_LABELS,
                "PINN convection",
                "Fig. 3",
                "Fig. 3 (right) near theta: profiles by regime and seed",
                f"{EXTENT_DIMS}-D profiles at extent ±{NEAR_DISTANCE}: inside the trained basins",
            )
        }
        if NEAR_DISTANCE
        else {}
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
DENSITY_FIGURES = (
    {
        "pinn_spectral_density": density_figure(
            {
                cell_label(cell): [
                    (f"seed {seed}", run)
                    for seed, run in zip(
                        config["pinn"]["analysis"]["seeds"],
                        analysis_run_dirs()[
                            index * len(SEED_LABELS) : (index + 1) * len(SEED_LABELS)
                        ],
                    )
                ]
                for index, cell in enumerate(config["pinn"]["analysis"]["cells"])
            },
            "PINN convection",
            "Curvature",
            "eigenvalue spectral densities of the analysed runs",
            "PINN Hessian eigenvalue spectral densities (SLQ), seeds overlaid",
        ),
        "unet_spectral_density": density_figure(
            {
                f"seed {seed}": [
                    (f"epoch {epoch}", directory)
                    for epoch, directory in zip(
                        UNET["figures"]["profile_epochs"],
                        unet_checkpoint_dirs(
                            [UNET["figures"]["profile_lr"]], [seed], UNET["figures"]["profile_epochs"]
                        ),
                    )
                ]
                for seed in UNET["figures"]["profile_seeds"]
            },
            "UNet-CRF segmentation",
            "Curvature",
            "eigenvalue spectral densities over training",
            f"UNet-CRF Hessian eigenvalue spectral densities over training, "
            f"lr={UNET['figures']['profile_lr']:g}{UNET_DATA_LABEL}",
        ),
    }
    if CURVATURE["enabled"]
    else {}
)
FIGURES = {**TABLE_FIGURES, **PROFILE_FIGURES, **DENSITY_FIGURES}


rule figure:
    input:
        data=figure_setting("inputs"),
        code=figure_setting("code"),
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figures.rst",
            category=figure_setting("category"),
            subcategory=figure_setting("subcategory"),
            labels=lambda wildcards: {"figure": FIGURES[wildcards.figure]["label"]},
        ),
        pdf="results/figures/{figure}.pdf",
    log:
        logs("figure", "{figure}"),
    wildcard_constraints:
        figure="|".join(re.escape(name) for name in FIGURES),
    params:
        kind=figure_setting("kind"),
        arguments=figure_setting("arguments"),
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure {params.kind:q} {params.arguments:q}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"
