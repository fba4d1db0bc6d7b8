"""workbench: train, analyze and browse how small transformers learn.

Modules, in the order imports flow (see README "Architecture"): config, families, tasks, model,
store, training, importers, cli.
"""
__version__ = "0.1.0"
