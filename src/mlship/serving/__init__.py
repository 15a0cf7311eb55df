"""The runtime inside every image: loads the project's pipeline and serves it over HTTP.

Nothing here imports the CLI's dependencies (typer, docker, nbconvert, pydantic): the image
installs only this package's own small set (the `serve` extra).
"""
