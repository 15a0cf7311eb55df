"""mlship: from a notebook to a running, monitored model service."""

__version__ = "0.1.0"
# The name on the package index (`mlship` there is an unrelated project); the command stays `mlship`.
DISTRIBUTION = "mlship-cli"
