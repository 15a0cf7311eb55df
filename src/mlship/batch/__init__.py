"""Batch scoring of any size: tables streamed in chunks through the serving pipeline (`mlship predict`)."""
