# losstopo: reproduce "Visualizing Loss Functions as Topological Landscape Profiles"
# (Geniesse et al., arXiv 2411.12136). Every rule calls the losstopo CLI; see README.md.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# the checkout's own package; its reader names a config.yaml that is not UTF-8 YAML in one line
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from losstopo.workflow.config_file import check_config_file

check_config_file("config.yaml")


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
    problem=r"[a-z][a-z0-9_]*",
    run=r"[^/]+",
    ckpt=r"[^/]+",


include: "rules/common.smk"


# each problem's own rules (training, its metrics table): the built-in problems' and those
# of config problem_modules
for problem_rules in STUDY.rule_files(workflow.basedir):

    include: problem_rules


include: "rules/analysis.smk"
include: "rules/topology.smk"
include: "rules/figures.smk"
include: "rules/estimate.smk"


# Cheap aggregation and drawing run on the submitting host, not as cluster jobs.
localrules:
    all,
    estimate,
    pinn_errors,
    topology_table,
    claims,
    unet_accuracy,
    figure,


rule all:
    default_target: True
    input:
        STUDY.targets(),
