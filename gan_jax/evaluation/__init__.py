"""Evaluation: ``sampling`` (drawing from G), ``metrics`` (FD, KID, IS, PRDC maths),
``classifier`` (the in-project feature classifier), ``inception`` (the FID Inception-v3),
``fid`` (Inception statistics and metrics), ``evaluator`` (a run's metrics) and ``diagnostics``
(vanishing gradients, mode collapse, oscillation from the logged history)."""
