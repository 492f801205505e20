# losstopo: reproduce "Visualizing Loss Functions as Topological Landscape Profiles"
# (Geniesse et al., arXiv 2411.12136). Every rule calls the losstopo CLI; see README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


wildcard_constraints:
    beta=r"[0-9][0-9.e+\-]*",
    lr=r"[0-9][0-9.e+\-]*",
    seed=r"[0-9]+",
    dims=r"[0-9]+",
    distance=r"[0-9][0-9.e+\-]*",
    connectivity=r"full|freudenthal|axis|knn",
    tile=r"[0-9]+",
    epoch=r"[0-9]{3}",


include: "rules/common.smk"
include: "rules/pinn.smk"
include: "rules/hessian.smk"
include: "rules/landscape.smk"
include: "rules/topology.smk"
include: "rules/figures.smk"
include: "rules/unet.smk"
include: "rules/estimate.smk"


# Cheap aggregation and drawing run on the submitting host, not as cluster jobs.
localrules:
    all,
    estimate,
    pinn_errors,
    topology_summary,
    fig3_error_heatmap,
    fig3_profiles,
    figA5_profiles_by_dimension,
    fig_topology_vs_error,
    extent_study,
    fig_extent_profiles,
    fig_extent_study,
    unet_accuracy,
    fig4_accuracy_heatmap,
    fig4_profiles,
    figB6_profiles_by_lr,
    unet_topology_summary,
    fig_unet_topology_vs_accuracy,


rule all:
    default_target: True
    input:
        rules.pinn_errors.output,
        rules.fig3_error_heatmap.output,
        rules.topology_summary.output,
        rules.fig3_profiles.output,
        rules.figA5_profiles_by_dimension.output,
        rules.fig_topology_vs_error.output,
        rules.extent_study.output,
        rules.fig_extent_profiles.output,
        rules.fig_extent_study.output,
        unet_targets(),
