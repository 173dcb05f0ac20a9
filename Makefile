# medledger: every target only names commands; see README.
GO ?= go
PKGS = ./...

.PHONY: test vet spec interop-deps e2e-deps web-assets-check fmt-check tidy-check generate-check check build fuzz bench

## test: go vet plus all tests with the race detector (the README's test command)
test: vet spec interop-deps e2e-deps
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## spec: fetch the CC0 FHIR R4 standards data the conformance tests read (npm, pinned, checksummed)
spec:
	./scripts/fhir-spec.sh

## interop-deps: install the pinned npm FHIR client the interop test drives the server with
interop-deps:
	./scripts/interop.sh

## e2e-deps: install Debian's chromium (apt-get, as root) and the pinned playwright-core the dashboard's browser tests drive it with
e2e-deps:
	./scripts/browser.sh --if-possible

## web-assets-check: the dashboard's vendored front-end files must be the pinned npm packages' (scripts/web-assets.sh)
web-assets-check:
	./scripts/web-assets.sh --check

## generate-check: go generate must reproduce the committed tables
generate-check: spec
	$(GO) generate ./internal/fhir/validate
	git diff --exit-code -- internal/fhir/validate

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy -diff

## check: everything CI runs
check: fmt-check tidy-check generate-check web-assets-check test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/medledger ./cmd/medledger

## fuzz: run each fuzz target briefly
fuzz:
	$(GO) test ./internal/ledger -run '^$$' -fuzz FuzzDecodeTx -fuzztime 30s
	$(GO) test ./client -run '^$$' -fuzz FuzzVerifyInclusion -fuzztime 30s
	$(GO) test ./internal/fhir/validate -run '^$$' -fuzz FuzzValidate -fuzztime 30s

bench:
	$(GO) run ./cmd/medledger bench ledger --json
