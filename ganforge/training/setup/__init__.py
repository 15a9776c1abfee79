"""The run's configuration and its assembly: options, plugins, optimizers, the Run."""
