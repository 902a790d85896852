"""Model files: save/load with fingerprints (`modelfile`), and the bundled models beside it."""
