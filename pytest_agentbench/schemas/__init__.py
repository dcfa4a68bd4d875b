"""The file formats users write: canaries, the model and agent registries, and the record of an attempt."""
