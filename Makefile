# pg_infer: PGXS build.
#
#   make && make install      build and install the extension
#   make installcheck         pg_regress suites (needs a running server)
#   make unit                 C unit tests of src/core, no server headers
#   make fuzz                 libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench                build the C benchmarks in bench/

EXTENSION = pg_infer
MODULE_big = pg_infer
DATA = $(wildcard sql/pg_infer--*.sql)

CORE_SRCS = $(wildcard src/core/*.c)
PG_SRCS = $(wildcard src/pg/*.c)
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# Server headers as system headers: -Wextra applies to our code, not theirs
PG_CPPFLAGS = -isystem $(includedir_server)
PG_CFLAGS = -std=gnu11 -Wextra -Wno-unused-parameter
# OpenBLAS is not linked: src/pg/blas.c loads it at run time, after choosing
# its kernels (OPENBLAS_CORETYPE), which must happen before the library loads
SHLIB_LINK = -lm

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=build/regress --load-extension=pg_infer

EXTRA_CLEAN = build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ------------------------------------------------------------------ unit tests
# src/core must build without any server header: only the core directory is
# on the include path, so a stray #include "postgres.h" fails here.
CORE_CC ?= cc
CORE_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc/core
UNIT_SRCS = $(wildcard test/unit/*.c)
UNIT_BINS = $(patsubst test/unit/%.c,build/unit/%,$(UNIT_SRCS))

build/unit/%: test/unit/%.c $(CORE_SRCS) $(wildcard src/core/*.h) test/unit/unit.h
	@mkdir -p build/unit
	$(CORE_CC) $(CORE_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) -lopenblas -lm

.PHONY: unit fuzz bench
unit: $(UNIT_BINS)
	@status=0; for t in $(UNIT_BINS); do $$t || status=1; done; exit $$status

# ------------------------------------------------------------------ fuzzing
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Isrc/core \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = $(patsubst test/fuzz/%.c,%,$(wildcard test/fuzz/fuzz_*.c))

build/fuzz/%: test/fuzz/%.c $(CORE_SRCS)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) -lm

fuzz: $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	@status=0; for t in $(FUZZ_TARGETS); do \
		seeds=test/fuzz/corpus/$${t#fuzz_}; mkdir -p build/fuzz/corpus-$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus-$$t $$seeds > build/fuzz/$$t.log 2>&1 \
			&& echo "fuzz: $$t ok ($$(grep -m1 stat::number_of_executed_units build/fuzz/$$t.log | awk '{print $$2}') runs)" \
			|| { echo "fuzz: $$t FAILED"; tail -40 build/fuzz/$$t.log; status=1; }; \
	done; exit $$status

# ------------------------------------------------------------------ benchmarks
bench: build/bench/vector_distance

build/bench/vector_distance: bench/vector_distance.c bench/scalar_ref.c $(CORE_SRCS)
	@mkdir -p build/bench
	$(CORE_CC) -std=c11 -D_GNU_SOURCE -O2 -fno-tree-vectorize -c -o build/bench/scalar_ref.o bench/scalar_ref.c
	$(CORE_CC) $(CORE_CFLAGS) -o $@ bench/vector_distance.c build/bench/scalar_ref.o $(CORE_SRCS) -lopenblas -lm
