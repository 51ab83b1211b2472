"""What the tools write: log records (file + stderr) and secret redaction on every way out."""
