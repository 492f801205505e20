# `snakemake estimate`: predict the configured study's wall time on all cores of this machine
# (not part of `all`).
import json


rule estimate:
    output:
        "results/estimate.txt",
    log:
        "results/logs/estimate.log",
    params:
        config=json.dumps(config),
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo estimate --config-json {params.config:q}"
        " --out {output:q} > {log:q} 2>&1"
