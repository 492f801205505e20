# `snakemake estimate`: predict the configured study's wall time on all cores of this machine
# (not part of `all`). The jobs costed are those a dry run of this workflow plans for the same
# config, run by this Snakemake; each is costed from small probes of its own command, which
# run every stage (hence an environment with every stage's libraries).
import json
import os
import shutil
import sys


rule estimate:
    output:
        "results/estimate.txt",
    log:
        "results/logs/estimate.log",
    params:
        config=json.dumps(config),
        snakefile=workflow.main_snakefile,
        snakemake=shutil.which("snakemake", path=os.path.dirname(sys.executable)) or "snakemake",
    conda:
        "../envs/estimate.yaml"
    shell:
        "python -m losstopo estimate --config-json {params.config:q}"
        " --snakefile {params.snakefile:q} --snakemake {params.snakemake:q}"
        " --out {output:q} > {log:q} 2>&1"
