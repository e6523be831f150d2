"""The pipeline's fixed contract: paths, columns and allowed values (read it; do not edit it).

The grader writes the raw log and the validation set to these paths, runs `dvc repro`, reads
the outputs from these paths and talks to the MLflow server named by MLFLOW_TRACKING_URI."""

RAW_PATH = "data/raw/events.jsonl"  # raw event log, one JSON object per line (the grader writes it)
VALIDATION_PATH = "data/validation.csv"  # labelled validation rows in the clean format (the grader writes it)
CLEAN_PATH = "data/clean.csv"  # ETL output: the valid rows, normalised
QUARANTINE_PATH = "data/quarantine.jsonl"  # ETL output: one record per rejected line
MODEL_PATH = "model/model.pkl"  # train output: the fitted model (pickle)
METRICS_PATH = "metrics.json"  # train output: {"val_accuracy": ..., "train_rows": ...}

EXPERIMENT = "e2e-pipeline"  # MLflow experiment of the training runs
DEFAULT_MODEL_NAME = "events-ctr"  # registered model name unless MODEL_NAME is set
CHAMPION = "champion"  # the registry alias the API serves

CLEAN_COLUMNS = ["event_id", "ts", "user_id", "device", "country", "price", "dwell_ms", "clicked", "hour"]
FEATURES = ["device", "country", "price", "dwell_ms", "hour"]  # what a model sees
LABEL = "clicked"
DEVICES = ["mobile", "desktop", "tablet"]
COUNTRIES = ["DE", "FR", "US", "GB", "ES", "IT", "NL", "PL"]
MAX_PRICE = 10_000
MAX_DWELL_MS = 600_000
TS_FROM = "2026-01-01T00:00:00Z"  # inclusive, UTC
TS_UNTIL = "2027-01-01T00:00:00Z"  # exclusive, UTC
