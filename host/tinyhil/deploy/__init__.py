"""`tinyhil deploy`: a search winner trained fully, distilled, exported, built, measured and explained, as
resumable stages (pipeline: the stage runner and its record; stages: what each stage does)."""
