"""Versioned datasets: frozen sets of approved records with deterministic, leak-free splits.

The stage is ``datagen.datasets.create.run_dataset`` (``create_dataset`` returns (name, version)); reading
them: ``catalog.list_datasets``, ``catalog.show_dataset``, ``catalog.load_rows``; the config is
``config.DatasetConfig``. This package module imports nothing, so the dataset command's flags load without the
store.
"""
