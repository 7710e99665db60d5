# Build, install and test entry points. `make demo` and `make test` work on a fresh Debian machine
# as root: they install what is missing (Debian packages, npm packages, the native addon, the build).

SHELL := /bin/bash
APT_PACKAGES := g++ make python3 libfuse2 fuse3 libfuse-dev fuse-overlayfs umoci skopeo docker-registry fio attr acl zstd tar
BENCH_PACKAGES := fio fuse-overlayfs hyperfine

.PHONY: all deps apt node native build demo test bench clean

all: build

# Debian packages: installed only when missing (needs root; a non-root user is told what to install).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else echo "warning: not root, cannot install:$$missing (tests that need them will say so)"; fi; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

node: node_modules/.package-lock.json

native: node
	UFS_REQUIRE_NATIVE=$${UFS_REQUIRE_NATIVE:-$$( [ "$$(uname)" = Linux ] && echo 1 || echo 0 )} node scripts/build-native.mjs
	UFS_REQUIRE_FUSE=$${UFS_REQUIRE_FUSE:-$$( [ "$$(uname)" = Linux ] && echo 1 || echo 0 )} node lib/fuse/native/build.mjs

build: node native
	npx tsc -p tsconfig.build.json

deps: apt build

demo: deps
	node examples/demo.mjs

test: deps
	npx vitest run

bench: deps
	@missing=""; for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then apt-get install -y -qq $$missing >/dev/null; fi
	npx tsx bench/run.ts $(BENCH_ARGS)

clean:
	rm -rf dist native/build lib/fuse/native/build
