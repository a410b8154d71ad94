# Developer entry points. `make demo` and `make test` work on a fresh
# machine: both first install what is missing (tools/install-deps.sh).
R ?= R
RSCRIPT ?= Rscript
export R

.PHONY: all deps install demo test check-cran clean

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

check-cran: deps
	@sh tools/check.sh --as-cran

clean:
	rm -rf .check .install src/*.o src/*.so src/Makevars
