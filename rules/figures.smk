# Figures, drawn only from cached artifacts (tables, netCDF files).


rule fig3_error_heatmap:
    input:
        table="results/tables/pinn_errors.csv",
        code=package_sources("tables.py", "plots/heatmap.py", "plots/common.py"),
    output:
        png=report(
            "results/figures/fig3_error_heatmap.png",
            caption="../report/fig3_error_heatmap.rst",
            category="PINN convection",
            subcategory="Fig. 3",
        ),
        pdf="results/figures/fig3_error_heatmap.pdf",
    log:
        "results/logs/fig3_error_heatmap.log",
    conda:
        "../envs/figures.yaml"
    shell:
        "python -m losstopo figure pinn-heatmap {input.table} --out {output.png} {output.pdf}"
        " > {log} 2>&1"
