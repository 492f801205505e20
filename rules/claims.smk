# The paper's PINN claims decided from the topology tables: one row per claim, statistic and
# landscape with its effect, bootstrap interval over seeds and verdict (`losstopo claims`).


rule claims:
    input:
        summary="results/tables/topology_summary.csv",
        extent="results/tables/extent_study.csv",
        code=package_sources("claims/paper.py", "claims/verdict.py", "claims/markdown.py"),
    output:
        csv=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="PINN convection",
            subcategory="Claims",
            labels={"table": "claims: effects, intervals over seeds, verdicts"},
        ),
        markdown="results/tables/claims.md",
    log:
        logs("claims", "claims"),
    conda:
        "../envs/topology.yaml"
    shell:
        "python -m losstopo claims {input.summary:q} --extent {input.extent:q}"
        " --markdown {output.markdown:q} --out {output.csv:q} > {log:q} 2>&1"
