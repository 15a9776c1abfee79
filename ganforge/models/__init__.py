"""Built-in architectures: ``gan`` (mlp), ``dcgan`` and ``cgan``."""
