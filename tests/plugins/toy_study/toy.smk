# The toy problem's own rule: one training run per configured seed.
import os


rule train_toy:
    output:
        "results/toy/seed{seed}/model.pt",
    log:
        logs("train_toy", "seed{seed}"),
    benchmark:
        benchmarks("train_toy", "seed{seed}")
    params:
        script=os.path.join(workflow.current_basedir, "train_toy.py"),
        width=config["toy"]["width"],
        iterations=config["toy"]["iterations"],
    shell:
        "python {params.script:q} --seed {wildcards.seed} --width {params.width}"
        " --iterations {params.iterations} --out {output:q} > {log:q} 2>&1"
