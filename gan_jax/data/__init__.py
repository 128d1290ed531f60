"""Input data: ``datasets`` (the Dataset record and every loader), ``tfds_source`` (TFDS through
``tfds.data_source``), ``sampler`` (batches as a pure function of (seed, step)) and ``prefetch``
(the background thread that puts batches on the devices)."""
