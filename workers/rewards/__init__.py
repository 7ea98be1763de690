"""Reward functions without Django or torch: the spec, the formula evaluator,
fitted transforms and the combination rules, shared by the web process and workers."""
