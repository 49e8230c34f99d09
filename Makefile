# Container images and the chart's CRDs. `make images` builds all four images, `make push` builds
# and pushes them; REGISTRY, VERSION and DOCKER can be overridden:
#   make push REGISTRY=registry.example.com/kfn VERSION=0.1.0-rc1
# The images are tagged with kfn's version (pyproject.toml), which is the chart's appVersion,
# so the chart's defaults pull exactly these tags.

REGISTRY ?= ghcr.io/kfn-dev
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DOCKER ?= docker

IMAGES := kfn-operator:operator/Dockerfile \
          kfn-gateway:gateway/Dockerfile \
          kfn-runtime:runtime/Dockerfile \
          kfn-runtime-provided:runtime/provided.Dockerfile

.PHONY: images push chart-crds

images:
	@set -e; for entry in $(IMAGES); do \
		name=$${entry%%:*}; file=$${entry#*:}; \
		echo "building $(REGISTRY)/$$name:$(VERSION) from $$file"; \
		$(DOCKER) build --file $$file --tag $(REGISTRY)/$$name:$(VERSION) .; \
	done

push: images
	@set -e; for entry in $(IMAGES); do \
		name=$${entry%%:*}; \
		$(DOCKER) push $(REGISTRY)/$$name:$(VERSION); \
	done

# charts/kfn/crds must stay byte-identical to crds/ (tests/chart/test_crds_copy.py checks it).
chart-crds:
	cp crds/*.yaml charts/kfn/crds/
