# Plugin image for the docker sandbox backend (sandbox/docker). Idempotent:
# the script exits at once when the image matches its inputs.
.PHONY: docker-image
docker-image:
	scripts/build-docker-image.sh
