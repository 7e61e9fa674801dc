# kinspect — build, fixtures, tests. See README.md.
SHELL := /bin/bash
GO ?= go
KINSPECT_FIXTURES ?= $(HOME)/.cache/kinspect/fixtures
export KINSPECT_FIXTURES
export PATH := $(PATH):/usr/local/go/bin
ARCHES := arm arm64 x86_64
# Other kernel generations the tests also cover (Linux 5.10 and 6.12).
EXTRA_FIXTURES := x86_64:bullseye arm64:trixie
# The module fixtures (testdata/module-fixture.sh): an oops and a hung task
# in the test module, per arch.
MODULE_FIXTURES := $(foreach a,$(ARCHES),$(a):bookworm:oops $(a):bookworm:hung)
# The Raspberry Pi boards (testdata/raspi-fixture.sh): the sysrq guest on
# QEMU's raspi2b (arm) and raspi3b (arm64), RAM at physical 0, no VMCOREINFO.
RASPI_FIXTURES := arm:bookworm:raspi arm64:bookworm:raspi
# LPAE (testdata/lpae-fixture.sh): the sysrq guest on Debian's armmp-lpae on
# virt,highmem=on with 4 GiB of RAM from 0x40000000 (above 4 GiB physical).
LPAE_FIXTURES := arm:bookworm:lpae
# The Raspberry Pi OS-like 32-bit kernel (testdata/rpios-fixture.sh): built
# once from Debian's linux-source (2G/2G split) and booted on raspi2b. First
# in the list: its kernel build is the longest step of a cold run.
RPIOS_FIXTURES := arm:bookworm:rpios
# The live fixtures (testdata/live-fixture.sh): the guest runs kinspect on its
# own kernel: /proc/kcore, or /dev/mem on arm (32-bit ARM has no /proc/kcore;
# the arm guest boots the rpios kernel, so it comes after it).
LIVE_FIXTURES := x86_64:bookworm:live arm64:bookworm:live arm:bookworm:live

.PHONY: build release fixtures test demo bench clean deps readme oracle $(addprefix fixture-,$(ARCHES))

build:
	CGO_ENABLED=0 $(GO) build -o bin/kinspect ./cmd/kinspect

# Static binaries for linux/amd64, arm64, arm (GOARM=7 and 6: every Raspberry
# Pi) with the version stamped, and SHA256SUMS, in dist/.
release:
	scripts/release.sh dist

# Host packages the fixture builder and the tests need (idempotent).
deps:
	testdata/install-deps.sh

fixture-%: deps
	testdata/build-fixture.sh $* bookworm

# Built three at a time: downloads and QEMU boots overlap (2 cores); each
# build's log lines carry its name. KINSPECT_KERNEL=ABI selects a kernel.
FIXTURE_JOBS ?= 3
fixtures: deps
	printf '%s\n' $(RPIOS_FIXTURES) $(addsuffix :bookworm,$(ARCHES)) $(EXTRA_FIXTURES) $(MODULE_FIXTURES) $(RASPI_FIXTURES) $(LPAE_FIXTURES) $(LIVE_FIXTURES) | \
	  xargs -P$(FIXTURE_JOBS) -I{} bash -c 'set -o pipefail; f={}; IFS=: read -r a s k <<<"$$f"; \
	    testdata/build-fixture.sh $$a $$s $$k 2>&1 >/dev/null | sed -u "s|^|[$$f] |"'


# Red Hat crash 8.0.6 (Debian trixie) for amd64/arm64/armhf, run from private
# roots (natively or under qemu-user): the comparison oracle of internal/oracle.
oracle: deps
	testdata/install-oracle.sh

# All tests, integration included: builds the fixtures it needs first.
test: fixtures oracle
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...

# Build kinspect and the arm64 fixture, then open the REPL on it (the
# builder prints the fixture's directory: the one the current guest and
# kernel made, never a stale one).
demo: build deps
	@d=$$(testdata/build-fixture.sh arm64 bookworm) && ./bin/kinspect "$$d/vmcore.elf" "$$d/vmlinux"

clean:
	rm -rf bin dist

# Regenerate the README's command reference from the command table.
readme:
	$(GO) run ./internal/gendocs README.md

# kinspect vs drgn vs crash on the same dump (see bench/compare.sh).
bench: build
	bench/compare.sh x86_64
