"""Training: the state, the per-device steps, the loop, and what keeps a run safe on disk.

``state`` (GANState, optimisers), ``steps`` (pure d_update / g_update / train_step), ``parallel``
(pmap / shard_map), ``experiment`` (a run built from its config), ``loop`` (train_and_evaluate),
``writers`` (metrics, summaries, pictures), ``checkpointing`` (Orbax), ``preemption``
(SIGTERM/SIGINT), ``workdir`` (the one-writer lock, atomic and append writes), ``distributed``
(multi-host start-up).
"""
