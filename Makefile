# skiff's build. `make` builds ./skiff (stripped); `make test` runs the test suite as CI does.
GO       ?= go
VERSION  ?= 0.1.0-dev
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null)
DATE     := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
K8S      := v1.37.2
K8S_MINOR := 37
PKG      := github.com/skiff-dev/skiff/internal/version
CB       := k8s.io/component-base/version
# The embedded kubectl reports its version from component-base: stamp it with the Kubernetes
# version skiff serves, so client and server agree and kubectl warns of no skew.
LDFLAGS  := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).GitCommit=$(COMMIT) -X $(PKG).BuildDate=$(DATE) \
            -X $(CB).gitVersion=$(K8S) -X $(CB).gitMajor=1 -X $(CB).gitMinor=$(K8S_MINOR) \
            -X $(CB).gitCommit=$(COMMIT) -X $(CB).gitTreeState=clean -X $(CB).buildDate=$(DATE)

# kustomize (inside kubectl) would load Go plugins; importing package plugin makes the linker export
# every symbol dynamically (~20 MB). Upstream builds kubectl without it too.
# seccomp: containers get the default seccomp profile only with libseccomp compiled in (cgo,
# libseccomp-dev at build time, libseccomp2 at run time; scripts/install-test-deps.sh installs
# both). `make SECCOMP=` builds without it: containers then run unconfined, which skiff logs once.
# Tests get the same tags: a test binary that starts containers is their init (libcontainer
# re-executes /proc/self/exe), so it must have seccomp too.
SECCOMP  ?= seccomp
comma    := ,
TAGS     := $(subst $() ,$(comma),$(strip kustomize_disable_go_plugin_support $(SECCOMP)))

.PHONY: skiff test ldflags tags clean
skiff:
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o skiff ./cmd/skiff

tags:
	@echo '$(TAGS)'

ldflags:
	@echo '$(LDFLAGS)'

# test: install what the tests need, then run them all (as root). CI's .ci/run calls this.
test:
	bash scripts/install-test-deps.sh
	$(GO) mod download
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) test -tags '$(TAGS)' -count=1 -timeout 60m ./...

clean:
	rm -f skiff
