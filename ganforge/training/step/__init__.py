"""The update step: the engine that runs a step plugin's phases, and the phases' checks."""
