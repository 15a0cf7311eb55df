"""`mlship build`: the build context, the Dockerfile, the base image and GPU choice, the docker build."""
