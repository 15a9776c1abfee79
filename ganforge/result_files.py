"""The names of the result files that several layers read: an evaluation's report, a repeat
directory's state and summary. Constants only, so the CLI can name them without importing torch."""

EVAL_FILE = "eval.json"  # in a run directory: `ganforge eval RUN`'s report
BEST_EVAL_FILE = "eval-best.json"  # the same for --best
REPEAT_FILE = "repeat.json"  # in a repeat directory: its seeds, runs and which have finished
SUMMARY_FILE = "summary.json"  # in a repeat directory: per-run rows and each metric's interval
