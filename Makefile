# behavediff — see README.md. Everything here runs as root on Debian/Ubuntu.
SHELL := /bin/bash
GO ?= go
BIN := bin/behavediff
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Runtime packages: the sandbox needs containerd + runc, and e2fsprogs
# (mkfs.ext4) for the size-limited workspace layer; tests use python3
# (python3-venv: the pip benchmark), make (the build benchmark),
# iproute2, gcc (a static C helper), busybox-static (scratch rootfs), curl,
# docker-registry + skopeo (a registry on loopback) and chromium (HTML report).
RUNTIME_PKGS := containerd runc e2fsprogs python3 python3-venv make iproute2 gcc libc6-dev busybox-static curl docker-registry skopeo chromium
# Only `make generate` needs the eBPF toolchain: the objects are committed.
# check-generate compares them byte for byte, and another clang emits other
# bytes, so every machine builds them with one pinned clang: Debian
# bookworm's clang-14 (which made the committed objects). CLANG=... builds
# with another one, but check-generate then refuses it.
CLANG ?= clang-14
CLANG_PIN := 14
GENERATE_PKGS := clang-$(CLANG_PIN) llvm-$(CLANG_PIN) libbpf-dev

.PHONY: all deps deps-generate check-clang build install demo test test-unit fuzz fuzz-short bench bench-all generate check-generate clean

all: build

# deps installs what is missing, once; a machine that has it all is untouched.
deps:
	@missing=""; for p in $(RUNTIME_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

deps-generate:
	@missing=""; for p in $(GENERATE_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/behavediff

install: build
	install -m 0755 $(BIN) /usr/local/bin/behavediff

# demo: record testdata/demo in a scratch project, show it, approve it, check it.
DEMO := build/demo
demo: deps build
	@rm -rf $(DEMO) && mkdir -p $(DEMO)/.behavediff && cp -a testdata/demo/workspace/. $(DEMO)/
	@echo "== behavediff record --name demo -- sh demo.sh"
	cd $(DEMO) && ../../$(BIN) record --name demo -- sh demo.sh || true
	@echo; echo "== behavediff show last"
	cd $(DEMO) && ../../$(BIN) show last
	@echo; echo "== behavediff approve --yes demo (refused: the demo reads an SSH key and calls out)"
	cd $(DEMO) && ../../$(BIN) approve --yes demo || true
	@echo; echo "== behavediff approve --yes --accept-risk critical demo"
	cd $(DEMO) && ../../$(BIN) approve --yes --accept-risk critical demo
	@echo; echo "== behavediff check demo (replays the spec, diffs against the baseline)"
	cd $(DEMO) && ../../$(BIN) check demo
	@echo; echo "Your files are untouched: the run wrote into a copy-on-write layer. Try:"
	@echo "  cd $(DEMO) && ../../$(BIN) query \"SELECT op, path, error FROM file_events WHERE run_id = (SELECT max(id) FROM runs)\""

# -p 1: the end-to-end tests of different packages share one containerd, the
# host's /root and the machine's two cores; run the packages one at a time so
# they never disturb each other (a test that creates ~/.ssh to check masking,
# timing-sensitive interrupt tests).
test: deps
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 30m ./...
	@# an independent engine reads the Parquet export (cgo, its own module)
	cd internal/duckdbtest && $(GO) test -count=1 ./...
	$(MAKE) fuzz-short

# Fuzz targets, as package:FuzzName. Every parser of bytes the traced code
# (or whoever wrote the image, baseline or spec) controls. `go test` always
# runs their seed corpora (testdata/fuzz/ of each package); fuzz-short adds a
# few seconds of mutation each (well under 2 minutes in all), fuzz a long run.
FUZZ_TARGETS := \
	./bpf:FuzzDecode \
	./recorder:FuzzParseSockaddr ./recorder:FuzzParseDNSQuery ./recorder:FuzzParseDNSAnswer \
	./recorder:FuzzResolvePath ./recorder:FuzzUnmarshalSpec ./recorder:FuzzTrackerEvent \
	./baseline:FuzzMatch ./baseline:FuzzParse ./baseline:FuzzTmpNames ./diff:FuzzPathSet \
	./snapshot:FuzzLoadSpec ./snapshot:FuzzValidName ./store:FuzzEachRepeat \
	./recorder/sandbox:FuzzImageManifest ./recorder/sandbox:FuzzImportRootfs
FUZZ_SHORT ?= 3s
FUZZTIME ?= 5m

# Each package's test binary is built once with fuzzing instrumentation,
# then run per target from the package directory (where its corpus is).
# A crasher is written to PKG/testdata/fuzz/NAME/: commit it with the fix,
# it then runs as a regression case in every `go test`. The fuzzing engine
# fails with "context deadline exceeded" when -fuzztime ends before its
# workers started (a loaded machine): that is no finding, so such a run is
# repeated once with twice the time.
FUZZ_BIN := build/fuzz
define run-fuzz
	@set -e; mkdir -p $(FUZZ_BIN); log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	cache=$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m); \
	for pkg in $$(for t in $(FUZZ_TARGETS); do echo $${t%%:*}; done | sort -u); do \
		bin=$(CURDIR)/$(FUZZ_BIN)/$$(echo $$pkg | tr -c 'a-z0-9\n' _).test; \
		$(GO) test -c -fuzz=. -o $$bin $$pkg; \
	done; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$pkg $$name ($(1))"; \
		bin=$(CURDIR)/$(FUZZ_BIN)/$$(echo $$pkg | tr -c 'a-z0-9\n' _).test; \
		for attempt in 1 2; do \
			time=$(1); [ $$attempt = 1 ] || time=$$(( $${time%s} * 2 ))s; \
			if (cd $$pkg && $$bin -test.run='^$$' -test.fuzz="^$$name\$$" -test.fuzztime=$$time \
				-test.fuzzminimizetime=1s -test.fuzzcachedir=$$cache/$${pkg#./}) >$$log 2>&1; then \
				tail -n 2 $$log | head -n 1; break; \
			fi; \
			if [ $$attempt = 1 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "fuzz $$name: workers did not start within $$time, retrying"; continue; \
			fi; \
			cat $$log; exit 1; \
		done; \
	done
endef

fuzz-short:
	$(call run-fuzz,$(FUZZ_SHORT))

fuzz:
	$(call run-fuzz,$(FUZZTIME))

test-unit:
	$(GO) test -race -count=1 -short ./...

# bench: issue 14's goals, one benchmark per goal, each printing its figure
# next to its goal as a ratio against a baseline measured in the same run
# (package:Name,Name; ~6 minutes on two cores). Knobs (environment):
# BEHAVEDIFF_BENCH_PAIRS (interleaved pairs), BEHAVEDIFF_BENCH_ROUNDS
# (syscall-heavy rounds), BEHAVEDIFF_BENCH_FILES (C files of the build),
# BEHAVEDIFF_BENCH_EVENTS (flood / diff size), BEHAVEDIFF_BENCH_BEFORE (an
# older behavediff measured in the same interleaving). bench-all runs every
# benchmark of every package. The figures are summed up at the end and kept
# in build/bench.txt.
BENCH_GOALS := \
	./cmd/behavediff:RecordEndToEnd,RecordBuildEndToEnd,RecordPipEndToEnd \
	./recorder:Flood4Threads,SyscallHeavy \
	./store:Ingest1M,LoadDistinct1M \
	./diff:DiffCLI1M
bench: deps
	@mkdir -p build && : > build/bench.txt; set -eo pipefail; for t in $(BENCH_GOALS); do re=$${t#*:}; \
		$(GO) test -p 1 -run '^$$' -bench "^Benchmark($${re//,/|})$$" -benchtime 1x -timeout 30m $${t%%:*} | tee -a build/bench.txt; done; \
		echo; echo "== every figure against its goal (all output in build/bench.txt)"; grep -h 'goal' build/bench.txt || echo '(no benchmark printed a goal)'

bench-all: deps
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

# check-clang says which clang the objects need when $(CLANG) is missing
# or another version.
check-clang:
	@command -v $(CLANG) >/dev/null || { echo "make: $(CLANG) not found: the committed eBPF objects are built with clang $(CLANG_PIN) (Debian package clang-$(CLANG_PIN)); run: make deps-generate"; exit 1; }
	@v=$$($(CLANG) --version | head -n 1); echo "$$v" | grep -q "clang version $(CLANG_PIN)\." || \
		{ echo "make: $(CLANG) is '$$v'; the committed eBPF objects are built (and compared byte for byte) with clang $(CLANG_PIN): install clang-$(CLANG_PIN) (make deps-generate) and use CLANG=clang-$(CLANG_PIN)"; exit 1; }

# generate: the syscall tables (go run ./bpf/internal/mksyscalls), then the
# eBPF objects with the pinned clang (bpf2go reads BPF2GO_CC).
generate: deps-generate check-clang
	BPF2GO_CC=$(CLANG) $(GO) generate ./bpf

# check-generate fails when the committed generated files are stale (or a
# generated file is not committed).
check-generate: generate
	@git diff --exit-code --stat -- bpf/ && test -z "$$(git status --porcelain --untracked-files=all -- bpf/)" || \
		{ echo "bpf/: generated files are stale (built with $(CLANG)): run 'make generate' and commit"; git status --short -- bpf/; exit 1; }

clean:
	rm -rf bin build
