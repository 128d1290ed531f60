"""Ablation sweeps: ``spec`` (an ablation config expanded into runs; what experiment files
import), ``runner`` (training and evaluating the runs, resumably) and ``report`` (tables and
plots). ``gan_jax.ablate`` is the command line over them."""
