# Everything a developer or CI needs; tools are pinned in tools/go.mod and
# built once into .cache/bin (git-ignored).
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.cache/bin
TOOLS := $(BIN)/kumo $(BIN)/local-kms $(BIN)/aws-lambda-rie
STATICCHECK := $(BIN)/staticcheck
FUNCTIONS := topic-guard key-guard config-rule
FUZZTIME ?= 20s

.PHONY: test vet lint cfn-lint staticcheck unit fuzz fuzz-list tools run bench build scan-build clean reliability oracle-deps oracle \
	build-TopicGuardFunction build-KeyGuardFunction build-ConfigRuleFunction

# make test: everything CI runs (vet, staticcheck, all tests incl. emulator end-to-end and cfn-lint on
# template.yaml and the StackSet's inner template through internal/template's TestCfnLint, bounded fuzzing).
test: vet staticcheck tools unit oracle fuzz

# cfn-lint alone (also part of make test, through internal/template's TestCfnLint, which fails
# under CI=true when cfn-lint is missing and is skipped with a message otherwise).
cfn-lint:
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found: pip install cfn-lint" >&2; exit 1; }
	$(GO) test -count=1 -run '^TestCfnLint$$' -v ./internal/template/

vet:
	$(GO) vet ./...

# staticcheck (pinned in tools/go.mod), default checks, zero findings allowed.
staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Both linters: staticcheck over the Go code, cfn-lint over the templates.
lint: staticcheck cfn-lint

# Every package but the IAM oracle, which `make oracle` runs on its own to print its figures.
unit: tools
	PATH="$(BIN):$$PATH" $(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/internal/oracle$$')
	@cat .cache/iam-e2e.txt 2>/dev/null || echo "iam: the end-to-end tests did not run (no emulators)"

# Bounded fuzz runs. Every Fuzz function of the repository must be listed in
# FUZZ_TARGETS (fuzz-list fails otherwise). For each target: replay its corpus
# (seeds and testdata/fuzz), fuzz it for $(FUZZTIME), and fail when the run
# fails or when ANY new file appears under any testdata/fuzz directory (a
# crasher being minimised when the time runs out is written without a
# "Failing input written" line). Only then is Go 1.26's fuzz-coordinator race
# tolerated: a bare "context deadline exceeded" at the fuzztime boundary
# with nothing written (golang/go#75804, fixed in Go 1.27).
FUZZ_TARGETS := \
	./shared/policy:FuzzParse \
	./shared/policy:FuzzMatchWildcard \
	./shared/policy:FuzzValidJSON \
	./shared/policy:FuzzShapeRelation \
	./shared/plan:FuzzFix \
	./shared/rules:FuzzEvaluatePlan \
	./shared/trigger:FuzzDecodeCloudTrail \
	./shared/trigger:FuzzDecodeConfig \
	./shared/trigger:FuzzCloudTrailFields

# Every "func FuzzX" in a _test.go file, as ./dir:FuzzX, sorted.
FUZZ_FOUND = find . -path ./.cache -prune -o -name '*_test.go' -type f -print | sort | \
	xargs grep -HoE '^func Fuzz[A-Za-z0-9_]*' | sed -E 's|^(.*)/[^/]*_test\.go:func |\1:|' | sort -u
# Every file under a testdata/fuzz directory.
FUZZ_FILES = find . -path ./.cache -prune -o -path '*/testdata/fuzz/*' -type f -print | sort

fuzz-list:
	@missing=$$(comm -23 <($(FUZZ_FOUND)) <(printf '%s\n' $(FUZZ_TARGETS) | sort -u)); \
	if [ -n "$$missing" ]; then echo "fuzz targets not in FUZZ_TARGETS (Makefile):"; echo "$$missing"; exit 1; fi; \
	stale=$$(comm -13 <($(FUZZ_FOUND)) <(printf '%s\n' $(FUZZ_TARGETS) | sort -u)); \
	if [ -n "$$stale" ]; then echo "FUZZ_TARGETS names fuzz targets that do not exist:"; echo "$$stale"; exit 1; fi

fuzz: fuzz-list
	@set -e; mkdir -p .cache; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn: replay the corpus"; \
		$(GO) test -count=1 $$pkg -run "^$$fn\$$" > .cache/fuzz.log 2>&1 || { cat .cache/fuzz.log; exit 1; }; \
		$(FUZZ_FILES) > .cache/fuzz.before; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		rc=0; $(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s > .cache/fuzz.log 2>&1 || rc=$$?; \
		$(FUZZ_FILES) > .cache/fuzz.after; \
		added=$$(comm -13 .cache/fuzz.before .cache/fuzz.after); \
		if [ -n "$$added" ]; then cat .cache/fuzz.log; echo "fuzz $$fn wrote new corpus files (a failing input):"; echo "$$added"; exit 1; fi; \
		if [ $$rc -eq 0 ]; then tail -n 2 .cache/fuzz.log; \
		elif grep -q 'context deadline exceeded' .cache/fuzz.log && ! grep -qE 'Failing input written|^panic:' .cache/fuzz.log; then \
			tail -n 4 .cache/fuzz.log; echo "fuzz $$fn: coordinator deadline race (golang/go#75804), nothing written: not a failure"; \
		else cat .cache/fuzz.log; exit 1; fi; \
	done

# Speed and cost figures against kumo on this machine (a few
# minutes): one line per figure on stdout, how they were measured on stderr.
bench: tools
	PATH="$(BIN):$$PATH" $(GO) run ./cmd/bench

# Reliability and security suites (internal/reliability) with more seeded fault
# runs than `make test`; prints the figures, or the whole log on failure.
RELIABILITY_RUNS ?= 500
reliability: tools
	@mkdir -p .cache
	@PATH="$(BIN):$$PATH" RELIABILITY_RUNS=$(RELIABILITY_RUNS) $(GO) test -count=1 -v -timeout 30m ./internal/reliability/ \
		> .cache/reliability.log 2>&1 || { cat .cache/reliability.log; exit 1; }
	@grep -E '^(faults_injected|fault_runs|bad_inputs|race_rounds)=' .cache/reliability.log

# The IAM oracle (internal/oracle): @cloud-copilot/iam-simulate at the version
# pinned in internal/oracle/package-lock.json, installed with `npm ci` into the
# git-ignored .cache/oracle once, and again only when the lock file changes.
# Without npm the oracle tests skip (outside CI); CI requires it.
ORACLE_DIR := $(CURDIR)/.cache/oracle
ORACLE_STAMP := $(ORACLE_DIR)/node_modules/.package-lock.json

oracle-deps:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(ORACLE_STAMP); \
	elif [ "$$CI" = true ]; then echo "oracle-deps: npm not found; CI needs node and npm for the IAM oracle tests" >&2; exit 1; \
	else echo "oracle-deps: npm not found; the IAM oracle tests will skip"; fi

$(ORACLE_STAMP): internal/oracle/package.json internal/oracle/package-lock.json
	@mkdir -p $(ORACLE_DIR)
	cp internal/oracle/package.json internal/oracle/package-lock.json $(ORACLE_DIR)/
	cd $(ORACLE_DIR) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# The oracle's figures (differential test and never-widen check), or the whole log on failure.
oracle: oracle-deps
	@mkdir -p .cache
	@$(GO) test -count=1 -v ./internal/oracle/ > .cache/oracle.log 2>&1 || { cat .cache/oracle.log; exit 1; }
	@grep -E '^(oracle_|fixes_checked)' .cache/oracle.log || grep -m1 'skipping' .cache/oracle.log

# SAM (BuildMethod: makefile): sam build calls these with ARTIFACTS_DIR set.
LAMBDA_BUILD = GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" -o $(ARTIFACTS_DIR)/bootstrap
build-TopicGuardFunction:
	$(LAMBDA_BUILD) ./functions/topic-guard
build-KeyGuardFunction:
	$(LAMBDA_BUILD) ./functions/key-guard
build-ConfigRuleFunction:
	$(LAMBDA_BUILD) ./functions/config-rule

# Lambda bundles for arm64 in .cache/dist/<function>/bootstrap.
build:
	@for f in $(FUNCTIONS); do \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" -o .cache/dist/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# The command-line scanner (`snskeyguard scan`) for this machine, in
# .cache/dist/snskeyguard; GOOS/GOARCH cross-compile it.
scan-build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o .cache/dist/snskeyguard ./cmd/snskeyguard

# The main job, locally: emulated AWS, every function under aws-lambda-rie with every sample event.
# make run SERVE=1 then keeps the emulators on fixed ports (kumo 4566, AWS Config fake 4567,
# Security Hub fake 4568, on all interfaces) until Ctrl-C, for
# `sam local invoke --env-vars events/env.json` (see README).
run: tools
	PATH="$(BIN):$$PATH" SERVE=$(SERVE) $(GO) run ./cmd/localrun

# The pinned tools (tools/go.mod `tool` block): the emulators and staticcheck. A binary is rebuilt only
# when tools/go.mod or go.sum is newer than it, so a second `make tools` does
# nothing. `go build` leaves an up-to-date output untouched, hence the touch.
tools: $(TOOLS)

$(BIN)/%: tools/go.mod tools/go.sum
	@mkdir -p $(BIN)
	@pkg=$$(cd tools && $(GO) list -f '{{.ImportPath}}' tool | grep -E '/$*$$'); \
	if [ -z "$$pkg" ]; then echo "tools/go.mod has no tool named $*" >&2; exit 1; fi; \
	echo "build $* ($$pkg)"; \
	cd tools && $(GO) build -o $@ $$pkg
	@touch $@

clean:
	rm -rf .cache .aws-sam
