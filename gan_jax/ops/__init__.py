"""Array operations the models use: ``conv`` (the custom-gradient convolutions that are fast on
XLA:CPU, and the per-backend choice ``conv_impl='auto'``) and ``augment`` (DiffAugment)."""
