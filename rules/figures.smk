# Every figure, drawn only from cached artifacts by `losstopo figure <kind>`: heat maps,
# topology vs performance and the extent study from one table each, and the grids of
# topological landscape profiles (Fig. 3, Fig. A.5, the extent study, Fig. 4, Fig. B.6, one
# per model of yours) from merge trees. FIGURES (each problem's figures: their inputs,
# arguments and report entries) comes from losstopo.workflow; one rule draws them all.

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
