# Developer entry points. `make demo` and `make test` work on a fresh
# machine: both first install what is missing (tools/install-deps.sh).
R ?= R
RSCRIPT ?= Rscript
export R

.PHONY: all deps install demo test test-network check-cran check-depends-only sanitize valgrind gctorture fuzz coverage clean

all: test

deps:
	@sh tools/install-deps.sh

# Install the package from a built tarball (so no object files land in src/).
install: deps
	@rm -rf .install && mkdir -p .install
	cd .install && $(R) CMD build --no-build-vignettes --no-manual .. >/dev/null
	$(R) CMD INSTALL .install/warmstart_*.tar.gz
	@rm -rf .install

demo: install
	$(RSCRIPT) demo/warmstart.R

test: deps
	@sh tools/check.sh

# The multi-host harness over sshfs, with our own sshd on 127.0.0.1
# (tests/testthat/test-network.R; about 2 to 3 minutes).
test-network: deps
	@sh tools/install-deps.sh --network
	@sh tools/test-network.sh

# As CRAN checks: --as-cran, with the tools it wants (pandoc, qpdf,
# checkbashisms), and the tests CRAN would run.
check-cran: deps
	@sh tools/install-deps.sh --cran-tools
	@NOT_CRAN=false sh tools/check.sh --as-cran

# With only the strong dependencies installed: suggested packages must be
# used conditionally.
check-depends-only: deps
	@sh tools/check-depends-only.sh

# The test suite against an ASan+UBSan build, and under valgrind.
sanitize: deps
	@sh tools/sanitize.sh

valgrind: deps
	@sh tools/valgrind.sh

# Every .Call entry point under gctorture(TRUE): catches a missing PROTECT.
gctorture: deps
	@sh tools/gctorture.sh

# Line coverage of R/ (covr) and src/ (gcov) per file, from the test suite
# run against a -O0 --coverage build; ends with "C core: N% of lines".
coverage: deps
	@sh tools/coverage.sh

# libFuzzer targets for the meta parser and the key-dir scan (C core only).
fuzz:
	@sh tools/fuzz/run.sh

clean:
	rm -rf .check .check-depends-only .network .install .sanitize .valgrind .gctorture .fuzz .coverage src/*.o src/core/*.o src/*.so src/Makevars
