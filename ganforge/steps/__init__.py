"""The built-in step plugins (entry-point group ``ganforge.steps``)."""
