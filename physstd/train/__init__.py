"""Training shared by every method: the run loop (loop.py), its flags (flags.py) and shared config (config.py), the
checkpoints of a run directory, and the base of every method's trainer (trainer.py). A method's own trainer lives
in its folder (physstd/methods/<name>/) and is reached only through the registry (physstd.methods)."""
