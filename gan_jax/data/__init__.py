"""Input data: ``dataset`` (the Dataset record), ``sources`` (every built-in loader),
``tfds_source`` (TFDS through ``tfds.data_source``), ``grain_loader`` (the streamed pipeline,
``data.loader``), ``sampler`` (batches as a pure function of (seed, step)) and ``prefetch`` (the
background thread that puts batches on the devices)."""
