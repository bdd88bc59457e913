# assetd — every entry point. `make run` and `make test` work on a fresh Debian 12 machine.
.DEFAULT_GOAL := assetd
SHELL := /bin/bash

CC ?= cc
PKGS := libmicrohttpd jansson libpq libsodium
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) -fstack-protector-strong -fPIE
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

SERVICE_SRC := $(wildcard service/*.c service/*/*.c)
API_SRC := $(wildcard api/*.c)
CMD_SRC := $(wildcard cmd/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_LIB_SRC := $(wildcard tests/integration/lib/*.c)
HTTP_SRC := $(wildcard tests/http/test_*.c tests/http/*/test_*.c)
TEST_LIB_SRC := $(wildcard tests/lib/*.c)

# Two builds of the same sources: release (-O2, fortified) and asan (ASan + UBSan, -O1).
release_CFLAGS := -O2 -D_FORTIFY_SOURCE=2
asan_CFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
release_LDFLAGS := -pie -Wl,-z,relro,-z,now
asan_LDFLAGS := -fsanitize=address,undefined

objs = $(patsubst %.c,build/$(1)/%.o,$(2))

define MODE_RULES
build/$(1)/%.o: %.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE_CFLAGS) $$($(1)_CFLAGS) $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@

# The contract is embedded (.incbin) in this object: rebuild it when openapi.yaml changes.
build/$(1)/api/openapi_doc.o: openapi.yaml

build/$(1)/assetd: $(call objs,$(1),$(SERVICE_SRC) $(API_SRC) $(CMD_SRC))
	$$(CC) $$($(1)_LDFLAGS) $$^ $$(PKG_LIBS) -o $$@

# A test may need extra link flags (e.g. -Wl,--wrap=malloc): tests/unit/test_X.ldflags.
build/$(1)/tests/unit/%: build/$(1)/tests/unit/%.o $(call objs,$(1),$(SERVICE_SRC) $(filter-out api/server.c,$(API_SRC)))
	$$(CC) $$($(1)_LDFLAGS) $$^ $$(PKG_LIBS) -lcmocka $$(shell cat $$(@:build/$(1)/%=%).ldflags 2>/dev/null) -o $$@

build/$(1)/tests/integration/%: build/$(1)/tests/integration/%.o $(call objs,$(1),$(SERVICE_SRC) $(TEST_LIB_SRC) $(INTEG_LIB_SRC))
	$$(CC) $$($(1)_LDFLAGS) $$^ $$(PKG_LIBS) -lcmocka -o $$@

build/$(1)/tests/http/%: build/$(1)/tests/http/%.o $(call objs,$(1),$(TEST_LIB_SRC))
	$$(CC) $$($(1)_LDFLAGS) $$^ $$(PKG_LIBS) -lcmocka -lcurl -o $$@

$(1)-tests: build/$(1)/assetd $(patsubst %.c,build/$(1)/%,$(UNIT_SRC) $(INTEG_SRC) $(HTTP_SRC))
endef
$(foreach m,release asan,$(eval $(call MODE_RULES,$(m))))
# A test's object is an intermediate of its pattern rule: make would delete it after linking,
# and the next make (its .d now names it) would compile every test again. Keep them all.
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)

.PHONY: assetd deps run test test-release test-asan unit bench fuzz lint clean format deploy-check image-check sdk-test

assetd: deps-build
	@$(MAKE) --no-print-directory build/release/assetd
	@rm -f assetd && cp build/release/assetd assetd

deps-build:
	@scripts/deps.sh build

# Serve on :8080 with a private PostgreSQL in ./.data (unless DATABASE_URL is set), a dev master
# key and admin token generated once into ./.data. Ctrl-C stops assetd and that PostgreSQL.
run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory assetd
	@scripts/run.sh

# Everything, against a throw-away PostgreSQL: unit, integration and HTTP tests on the release
# build and again under ASan+UBSan, the fuzz smoke, the OpenAPI lint and contract checks, the
# SDK flow, the deploy checks, pgbouncer in front and the container image (run.d/80-image.sh).
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -j2 release-tests asan-tests
	@rm -f assetd && cp build/release/assetd assetd
	@tests/run.sh

test-release test-asan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory $(subst test-,,$@)-tests
	@TEST_MODES=$(subst test-,,$@) tests/run.sh

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory assetd
	@tests/bench/run.sh

fuzz:
	@scripts/deps.sh test
	@tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

deploy-check: assetd
	@deploy/validate.sh

# The image built and run for real with podman (as root; installs podman, builds the Debian base
# images from the apt mirror): see tests/image/check.sh and deploy/README.md.
image-check:
	@tests/image/check.sh

format:
	clang-format -i $(SERVICE_SRC) $(API_SRC) $(CMD_SRC) service/*.h service/*/*.h api/*.h cmd/*.h tests/*/*.c tests/*/*/*.c tests/lib/*.h tests/integration/lib/*.h

clean:
	rm -rf build assetd
