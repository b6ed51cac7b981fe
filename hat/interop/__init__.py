"""Interoperability with HAT's own files: its fairseq-0.8 checkpoints (`hat_format`) and the
models HAT released for download (`published`)."""
