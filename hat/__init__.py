"""HAT: Hardware-Aware Transformers, re-implemented as a library, a CLI and a Snakemake workflow.

Module map (dependencies point downwards; nothing above `fairseq_plugin` imports fairseq):

    space       design spaces, SubTransformer configs, genes, latency features
    tasks       task definitions (space files, languages, decoding settings, data sources)
    supernet    the weight-sharing SuperTransformer in plain PyTorch
    export      SubTransformer -> standalone dense model
    profile     #params and FLOPs under HAT's conventions
    latency     on-device latency measurement and latency datasets
    predictor   latency predictors
    search      evolutionary search
    data        downloads, preprocessing, the offline demo task
    fairseq_plugin  fairseq model/task/criterion registration (the only fairseq importer)
    train / evaluate  training and BLEU on top of fairseq
"""

__version__ = "0.1.0"
