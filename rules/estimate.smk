# `snakemake estimate`: predict the configured study's wall time on this machine (not in `all`).
import json


rule estimate:
    output:
        "results/estimate.txt",
    log:
        "results/logs/estimate.log",
    params:
        config=json.dumps(config),
        cores=workflow.cores,
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo estimate --config-json {params.config:q} --cores {params.cores}"
        " --out {output} > {log} 2>&1"
