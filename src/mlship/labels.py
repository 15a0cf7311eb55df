"""Names of the labels mlship writes on images and deployments; state is read back from them."""

PREFIX = "io.mlship"
PROJECT = f"{PREFIX}.project"
VERSION = f"{PREFIX}.version"
MODEL_SHA256 = f"{PREFIX}.model-sha256"
LOCK_SHA256 = f"{PREFIX}.lock-sha256"
GPU = f"{PREFIX}.gpu"
MIN_DRIVER = f"{PREFIX}.min-driver"
CUDA = f"{PREFIX}.cuda"
# On the intermediate stage images `mlship build` keeps as its cache (value: the project name).
BUILD_CACHE = f"{PREFIX}.build-cache"
# Written by deploy on containers / services:
ENVIRONMENT = f"{PREFIX}.environment"
IMAGE_DIGEST = f"{PREFIX}.image-digest"
DEPLOYED_AT = f"{PREFIX}.deployed-at"
DEPLOYED_BY = f"{PREFIX}.deployed-by"
