"""Applications built on the library: the end-to-end demo (`python -m physstd.apps.demo`, `make demo`)."""
