"""Training reward models, the torch-free part: the settings a run is made with.

The web validates a run's settings with `TrainingSettings` and stores its
`model_dump()`; the worker rebuilds it and hands it to workers.ml.training.
"""
