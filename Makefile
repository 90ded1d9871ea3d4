# hfs — one Makefile, no configure.  Each layer is a static library;
# dependencies point down only: fs -> bufcache -> raid.
#
#   make            build everything into $(BUILDDIR)
#   make test       install missing packages, build, run every test
#   make demo       install, build, format images, mount, write, status, unmount, check
#   make asan       the whole test suite under ASan/UBSan (BUILDDIR=build-asan)
#   make check-long longer suites (full crash replay, ...)
#   make bench      hfs vs fuse2fs, ntfs-3g, zfs-fuse, ext4 (BENCH_SIZE=256M for a quick run)
#   make bench-raid hfs single vs mirror vs stripe of two loop devices
#   make bench-cpu  instructions per fsync'd random 4 KiB write (callgrind, no FUSE)

CC       ?= gcc
BUILDDIR ?= build
PREFIX   ?= /usr/local
DEBUG    ?= 0

PKGS     := fuse3 liburing zlib libbsd-overlay uuid blkid libisal
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -pthread \
            -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314 -I. $(PKG_CFLAGS) -MMD -MP
CFLAGS   += $(EXTRA_CFLAGS)
ifeq ($(DEBUG),1)
CFLAGS   += -O0 -DHFS_DEBUG=1
endif
LDLIBS   += $(PKG_LIBS) -lpthread

RAID_SRC := $(sort $(wildcard raid/*.c))
BC_SRC   := $(sort $(wildcard bufcache/*.c))
FS_SRC   := $(sort $(filter-out fs/main.c,$(wildcard fs/*.c)))

RAID_LIB := $(BUILDDIR)/libraid.a
BC_LIB   := $(BUILDDIR)/libbufcache.a
FS_LIB   := $(BUILDDIR)/libhfs.a
LIBS     := $(FS_LIB) $(BC_LIB) $(RAID_LIB)

# A program is built once its main source exists (the tree grows layer by layer).
PROGS    := $(if $(wildcard fs/main.c),$(BUILDDIR)/hfs) \
            $(if $(wildcard mkfs/mkfs.c),$(BUILDDIR)/mkfs.hfs) \
            $(if $(wildcard fsck/*.c),$(BUILDDIR)/fsck.hfs) \
            $(if $(wildcard tools/*.c),$(BUILDDIR)/hfsctl)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILDDIR)/tests/%,$(UNIT_SRC))
UNIT_HELPERS := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))

DEB_PKGS := libfuse3-dev fuse3 liburing-dev zlib1g-dev libcmocka-dev libbsd-dev \
            pkg-config uuid-dev libblkid-dev libisal-dev attr acl e2fsprogs util-linux bc python3

# what bench/ needs besides the build (peers to compare with, fio, jq)
BENCH_PKGS := fio jq fuse2fs ntfs-3g zfs-fuse e2fsprogs fuse3 util-linux bc python3 coreutils
# what the xfstests subset needs at run time (tests/xfstests/README.md)
# (and libgdbm-compat-dev: building the xfstests tree needs its ndbm.h for
# src/dbtest, which generic/010 runs; see tests/xfstests/README.md)
XFSTESTS_PKGS := xfsprogs fio psmisc attr acl bc dbench quota libcap2-bin gawk \
            perl python3 e2fsprogs util-linux fuse3 libgdbm-compat-dev

.PHONY: bench bench-raid bench-cpu bench-deps xfstests xfstests-deps
.PHONY: all deps test unit mount-tests demo asan install check-long clean
all: $(PROGS) $(UNIT_BIN)

# Install whatever Debian packages are missing (root only; prints what it does).
deps bench-deps: PKGS_WANTED = $(DEB_PKGS)
bench-deps: PKGS_WANTED = $(BENCH_PKGS)
xfstests-deps: PKGS_WANTED = $(XFSTESTS_PKGS)
deps bench-deps xfstests-deps:
	@missing=""; for p in $(PKGS_WANTED); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILDDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(RAID_LIB): $(patsubst %.c,$(BUILDDIR)/%.o,$(RAID_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(BC_LIB): $(patsubst %.c,$(BUILDDIR)/%.o,$(BC_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^
$(FS_LIB): $(patsubst %.c,$(BUILDDIR)/%.o,$(FS_SRC))
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

$(BUILDDIR)/hfs: $(BUILDDIR)/fs/main.o $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILDDIR)/mkfs.hfs: $(BUILDDIR)/mkfs/mkfs.o $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILDDIR)/fsck.hfs: $(patsubst %.c,$(BUILDDIR)/%.o,$(wildcard fsck/*.c)) $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILDDIR)/hfsctl: $(patsubst %.c,$(BUILDDIR)/%.o,$(wildcard tools/*.c)) $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# mount-test helpers: one self-contained program per file, no hfs libraries
HELPER_SRC := $(sort $(wildcard tests/mount/helpers/*.c))
HELPER_BIN := $(patsubst tests/mount/helpers/%.c,$(BUILDDIR)/helpers/%,$(HELPER_SRC))
$(BUILDDIR)/helpers/%: tests/mount/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lpthread
all: $(HELPER_BIN)

# bench's fuse-null configuration: the FUSE transport without a filesystem
$(BUILDDIR)/nullfs: bench/nullfs.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)
all: $(BUILDDIR)/nullfs

# bench-cpu's program: the write path in process, counted by callgrind
$(BUILDDIR)/benchcpu: $(BUILDDIR)/bench/cpu.o $(BUILDDIR)/tests/unit/fileops.o $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
all: $(BUILDDIR)/benchcpu

# test tools (crash replay)
$(BUILDDIR)/wlog: $(BUILDDIR)/tests/crash/wlog.o $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
all: $(BUILDDIR)/wlog
# paths are built from a scratch directory the caller names; gcc cannot
# prove that PATH_MAX-sized pieces fit, and they do (the tool makes short names)
$(BUILDDIR)/tests/crash/%.o: CFLAGS += -Wno-format-truncation
CRASH_SRC := $(filter-out tests/crash/wlog.c,$(sort $(wildcard tests/crash/*.c)))
$(BUILDDIR)/crashtool: $(patsubst %.c,$(BUILDDIR)/%.o,$(CRASH_SRC)) $(LIBS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
all: $(BUILDDIR)/crashtool

$(BUILDDIR)/tests/%: $(BUILDDIR)/tests/unit/%.o $(patsubst %.c,$(BUILDDIR)/%.o,$(UNIT_HELPERS)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)
	@BUILDDIR=$(BUILDDIR) tests/run-unit.sh $(UNIT_BIN)

mount-tests: $(PROGS)
	@BUILDDIR=$(BUILDDIR) tests/run-mount.sh

test: deps
	$(MAKE) all
	@BUILDDIR=$(BUILDDIR) tests/run-all.sh

check-long: deps
	$(MAKE) all
	@BUILDDIR=$(BUILDDIR) HFS_LONG=1 HFS_TEST_TIMEOUT=3600 tests/run-mount.sh

# The xfstests subset (tests/xfstests/README.md): XFSTESTS_DIR is an xfstests
# tree built outside this repo; the run uses the programs of $(BUILDDIR).
xfstests: deps xfstests-deps
	$(MAKE) all
	@BUILDDIR=$(BUILDDIR) XFSTESTS_DIR="$(XFSTESTS_DIR)" tests/xfstests/run.sh

bench: deps bench-deps
	$(MAKE) $(PROGS) $(BUILDDIR)/nullfs
	@BUILDDIR=$(BUILDDIR) bench/bench.sh

bench-raid: deps bench-deps
	$(MAKE) $(PROGS)
	@BUILDDIR=$(BUILDDIR) bench/raid.sh

bench-cpu: deps
	$(MAKE) $(BUILDDIR)/benchcpu $(BUILDDIR)/mkfs.hfs
	@BUILDDIR=$(BUILDDIR) bench/cpu.sh

demo: deps
	$(MAKE) $(PROGS)
	@BUILDDIR=$(BUILDDIR) tests/demo.sh

asan: deps
	$(MAKE) BUILDDIR=build-asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@BUILDDIR=build-asan tests/run-all.sh

install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 755 $(BUILDDIR)/hfs $(BUILDDIR)/mkfs.hfs $(BUILDDIR)/fsck.hfs $(BUILDDIR)/hfsctl $(DESTDIR)$(PREFIX)/sbin/
	# mount -t fuse.hfs runs /sbin/mount.fuse.hfs (mount(8) keeps a fixed PATH)
	ln -sf $(PREFIX)/sbin/hfs $(DESTDIR)/sbin/mount.fuse.hfs

clean:
	rm -rf build build-asan

-include $(shell find $(BUILDDIR) -name '*.d' 2>/dev/null)
