"""mlship: from a notebook to a running, monitored model service."""

__version__ = "0.1.0"
