/*
 * ondisk.h — hfs on-disk format v1.  docs/FORMAT.md is the byte-level
 * specification of everything here and changes in the same commit.
 *
 * All integers are little-endian.  Structures hold only uintN_t with
 * explicit padding and a _Static_assert on their size; code never casts
 * a disk buffer to a native struct without going through these types
 * and the hfs_le*() helpers (on a big-endian host they byte-swap).
 *
 * Logical space (the raid set's linear address space):
 *
 *   big-block 0            [0, 16K) header copy 0, [16K, 32K) header copy 1,
 *                          rest reserved                                  zone RAW
 *   big-blocks 1 .. U      UNDO FIFO (hdr.undo_base, hdr.undo_size)       zone UNDO
 *   next F big-blocks      free map (hdr.freemap_base, hdr.freemap_size)  zone FREEMAP
 *   the rest               allocated on demand to zones BTREE, SMALL, LARGE
 *
 * A zone address ("zaddr") is a 64-bit value: bits 63..60 the zone,
 * bits 59..0 the raw logical byte offset.  Every reference stored on disk
 * is a zaddr, so a checker can verify that the big-block it points into is
 * owned by that zone (free map entry fm_zone).
 */
#ifndef HFS_ONDISK_H
#define HFS_ONDISK_H

#include <stdint.h>
#include <string.h>
#include <endian.h>

#define HFS_VERSION_MAJOR 1      /* incompatible changes */
#define HFS_VERSION_MINOR 7      /* additions (1: scrub cursor, 2: i_flags, 3: DATAOVL records,
				  * 4: unwritten DATA records, 5: REDO records, 6: pieces DATA records,
				  * 7: DATA records with per-4 KiB CRCs) */
#define HFS_MINOR_REDO    5      /* volumes made with this minor or later take REDO records */
#define HFS_MINOR_PIECES  6      /* the first minor that may hold pieces DATA records */
#define HFS_MINOR_CRC4K   7      /* volumes made with this minor or later take CRC4K DATA records */

#define HFS_BLKSIZE     4096u            /* allocation unit */
#define HFS_BUFSIZE     16384u           /* meta/undo/small-data buffer = B-tree node */
#define HFS_BIGBLOCK    (8u << 20)       /* zone ownership unit */
#define HFS_FBLOCK      65536u           /* file logical block: one DATA record each */
#define HFS_BLKS_PER_BB (HFS_BIGBLOCK / HFS_BLKSIZE)   /* 2048 */
#define HFS_MIN_SIZE    (64ull << 20)    /* smallest logical space mkfs accepts */

#define HFS_ZONE_SHIFT  60
#define HFS_ZONE_MASK   (0xfull << HFS_ZONE_SHIFT)
enum hfs_zone {
	HFS_ZONE_FREE    = 0,    /* free-map value of an unowned big-block */
	HFS_ZONE_RAW     = 1,    /* headers, reserved */
	HFS_ZONE_UNDO    = 2,
	HFS_ZONE_FREEMAP = 3,
	HFS_ZONE_BTREE   = 8,    /* B-tree nodes, HFS_BUFSIZE each */
	HFS_ZONE_SMALL   = 10,   /* file data < HFS_FBLOCK, 4 KiB granular, via bufcache */
	HFS_ZONE_LARGE   = 11,   /* full HFS_FBLOCK file data, direct I/O */
};
static inline uint64_t hfs_zaddr(enum hfs_zone z, uint64_t raw) { return ((uint64_t)z << HFS_ZONE_SHIFT) | raw; }
static inline enum hfs_zone hfs_zone_of(uint64_t za) { return (enum hfs_zone)(za >> HFS_ZONE_SHIFT); }
static inline uint64_t hfs_raw(uint64_t za) { return za & ~HFS_ZONE_MASK; }

/* ---- little-endian helpers ------------------------------------------ */
static inline uint16_t hfs_le16(uint16_t v) { return le16toh(v); }
static inline uint32_t hfs_le32(uint32_t v) { return le32toh(v); }
static inline uint64_t hfs_le64(uint64_t v) { return le64toh(v); }
#define hfs_tole16(v) htole16(v)
#define hfs_tole32(v) htole32(v)
#define hfs_tole64(v) htole64(v)

/* ---- volume header (two copies; the valid one with highest seq wins) -- */
#define HFS_VOL_MAGIC   0x31304c4f56534648ull   /* "HFSVOL01" */
#define HFS_HDR_OFF(i)  ((uint64_t)(i) * HFS_BUFSIZE)  /* copy i in {0,1} */
#define HFS_HDR_SIZE    4096u
#define HFS_LABEL_MAX   64

/* vh_flags bit 0: in every commit of a read-write mount; cleared by the
 * final commit of a clean unmount or of a remount read-only.  Set at
 * mount: the filesystem was not unmounted cleanly (crash, shutdown,
 * critical error) and needs recovery, which writes (docs/DESIGN.md). */
#define HFS_VOLF_MOUNTED  0x1

struct hfs_volhdr_ondisk {
	uint64_t vh_magic;          /*   0 */
	uint16_t vh_major;          /*   8 */
	uint16_t vh_minor;          /*  10 */
	uint32_t vh_crc;            /*  12 crc32 of the 4096 bytes with this field 0 */
	uint64_t vh_seq;            /*  16 commit sequence of this header */
	uint8_t  vh_uuid[16];       /*  24 filesystem uuid */
	uint8_t  vh_label[HFS_LABEL_MAX]; /* 40 NUL-padded */
	uint64_t vh_size;           /* 104 logical bytes covered (multiple of HFS_BIGBLOCK) */
	uint32_t vh_blksize;        /* 112 = HFS_BLKSIZE */
	uint32_t vh_bufsize;        /* 116 = HFS_BUFSIZE */
	uint32_t vh_bigblock;       /* 120 = HFS_BIGBLOCK */
	uint32_t vh_fblock;         /* 124 = HFS_FBLOCK */
	uint64_t vh_undo_base;      /* 128 zaddr (zone UNDO) of the FIFO */
	uint64_t vh_undo_size;      /* 136 bytes */
	uint64_t vh_undo_first;     /* 144 FIFO offset where the next group's records start */
	uint64_t vh_freemap_base;   /* 152 zaddr (zone FREEMAP) */
	uint64_t vh_freemap_size;   /* 160 bytes */
	uint64_t vh_btree_root;     /* 168 zaddr (zone BTREE) of the root node */
	uint64_t vh_next_ino;       /* 176 next inode number to hand out */
	uint64_t vh_ninodes;        /* 184 inodes in use */
	uint64_t vh_free_blocks;    /* 192 free HFS_BLKSIZE blocks */
	uint64_t vh_ctime;          /* 200 mkfs time, seconds */
	uint64_t vh_mtime;          /* 208 last commit time, seconds */
	uint32_t vh_flags;          /* 216 HFS_VOLF_* */
	uint32_t vh_btree_depth;    /* 220 levels (1 = root is a leaf) */
	/* scrub (minor 1): where an interrupted scrub resumes, and its counts so far */
	uint64_t vh_scrub_obj;      /* 224 next B-tree key to scrub: obj_id, */
	uint64_t vh_scrub_key;      /* 232   key, */
	uint8_t  vh_scrub_type;     /* 240   rec_type */
	uint8_t  vh_scrub_pad[7];   /* 241 */
	uint32_t vh_scrub_state;    /* 248 enum hfs_scrub_state */
	uint32_t vh_scrub_pad2;     /* 252 */
	uint64_t vh_scrub_start;    /* 256 time the scrub began, seconds */
	uint64_t vh_scrub_end;      /* 264 time it finished, seconds (0 while running) */
	uint64_t vh_scrub_blocks;   /* 272 blocks (nodes, extents, headers) verified */
	uint64_t vh_scrub_bytes;    /* 280 bytes read, all copies */
	uint64_t vh_scrub_errors;   /* 288 bad copies found (read error or CRC) */
	uint64_t vh_scrub_repaired; /* 296 bad copies rewritten from a good one */
	uint64_t vh_scrub_unrepairable; /* 304 blocks with no good copy, or failed rewrites */
	/* REDO records a recovery has not replayed yet (minor 5; 0 = none):
	 * the records of group vh_redo_seq in FIFO [vh_redo_first, vh_redo_end) */
	uint64_t vh_redo_seq;       /* 312 */
	uint64_t vh_redo_first;     /* 320 FIFO offset, HFS_UNDO_ALIGN multiple */
	uint64_t vh_redo_end;       /* 328 FIFO offset past the last record */
	uint8_t  vh_reserved[4096 - 336];
};
_Static_assert(sizeof(struct hfs_volhdr_ondisk) == HFS_HDR_SIZE, "volhdr size");

/* vh_scrub_state: NONE on a fresh volume; RUNNING while a scrub is under
 * way (also after an unmount interrupted it: `hfsctl scrub` resumes at
 * vh_scrub_key); DONE with the counts of the last completed scrub. */
enum hfs_scrub_state { HFS_SCRUB_NONE = 0, HFS_SCRUB_RUNNING = 1, HFS_SCRUB_DONE = 2 };

/* ---- common header of every META block (B-tree node, free-map block) -- */
#define HFS_BTREE_MAGIC   0x4e425348u   /* "HSBN" */
#define HFS_FREEMAP_MAGIC 0x4d465348u   /* "HSFM" */

struct hfs_blkhdr_ondisk {
	uint32_t bh_magic;          /*  0 */
	uint32_t bh_crc;            /*  4 crc32 of the HFS_BUFSIZE block with this field 0 */
	uint64_t bh_self;           /*  8 zaddr of this block (misdirected-write check) */
	uint64_t bh_seq;            /* 16 flush group that last wrote it */
	uint8_t  bh_level;          /* 24 B-tree: 0 = leaf; free map: 0 */
	uint8_t  bh_pad0;           /* 25 */
	uint16_t bh_nitems;         /* 26 items in use */
	uint16_t bh_data_start;     /* 28 leaf: lowest offset used by values (== HFS_BUFSIZE when empty) */
	uint16_t bh_pad1;           /* 30 */
	uint8_t  bh_reserved[32];   /* 32 */
};
_Static_assert(sizeof(struct hfs_blkhdr_ondisk) == 64, "blkhdr size");

/* ---- B-tree ------------------------------------------------------------
 * One B+tree indexes everything.  Keys order by (obj_id, rec_type, key).
 * Internal node: after the header, an array of hfs_bt_inner_ondisk sorted
 * by key; item i covers keys in [item[i].key, item[i+1].key), item 0's key
 * is the node's left fence.  Leaf: a slot array growing up from offset 64,
 * values packed down from the end of the block (bh_data_start).
 */
enum hfs_rec_type {
	HFS_REC_INODE   = 1,   /* key 0;            value hfs_inode_ondisk */
	HFS_REC_DIRENT  = 2,   /* key hash<<32|iter; value hfs_dirent_ondisk + name */
	HFS_REC_XATTR   = 3,   /* key hash<<32|iter; value hfs_xattr_ondisk + name + value */
	HFS_REC_SYMLINK = 4,   /* key 0;            value the target bytes */
	HFS_REC_DATA    = 5,   /* key file offset (multiple of HFS_FBLOCK); value hfs_data_ondisk */
	HFS_REC_ORPHAN  = 6,   /* obj_id HFS_ORPHAN_INO, key = orphan inode number, no value */
	HFS_REC_XVAL    = 7,   /* key hfs_xval_key(); value up to HFS_XVAL_CHUNK bytes of a
				* large xattr value (minor 2) */
	HFS_REC_DATAOVL = 8,   /* key file offset (multiple of HFS_BLKSIZE); value hfs_data_ondisk:
	                        * a 4 KiB piece overlaid on a full DATA block (minor 3, FORMAT.md) */
};
#define HFS_OVL_MAX     8      /* overlays per block before a write merges them */
#define HFS_ROOT_INO    1ull     /* FUSE root */
#define HFS_ORPHAN_INO  2ull     /* pseudo-object holding the orphan list */
#define HFS_FIRST_INO   16ull    /* first inode number handed out by mkfs for users */

struct hfs_key_ondisk {
	uint64_t k_obj;             /* 0 */
	uint64_t k_key;             /* 8 */
	uint8_t  k_type;            /* 16 enum hfs_rec_type */
	uint8_t  k_pad[7];          /* 17 */
};
_Static_assert(sizeof(struct hfs_key_ondisk) == 24, "key size");

struct hfs_bt_inner_ondisk {
	struct hfs_key_ondisk bi_key;  /*  0 */
	uint64_t bi_child;             /* 24 zaddr */
};
_Static_assert(sizeof(struct hfs_bt_inner_ondisk) == 32, "inner size");

struct hfs_bt_slot_ondisk {
	struct hfs_key_ondisk bs_key;  /*  0 */
	uint16_t bs_off;               /* 24 value offset in the block */
	uint16_t bs_len;               /* 26 value length */
	uint32_t bs_pad;               /* 28 */
};
_Static_assert(sizeof(struct hfs_bt_slot_ondisk) == 32, "slot size");

#define HFS_BT_INNER_MAX  ((HFS_BUFSIZE - 64) / 32)   /* 510 */
#define HFS_BT_LEAF_SPACE (HFS_BUFSIZE - 64)          /* 16320 for slots + values */
#define HFS_MAX_VALUE     4480u                       /* largest record value */

/* ---- records ------------------------------------------------------------ */
struct hfs_timespec_ondisk { uint64_t ts_sec; uint32_t ts_nsec; uint32_t ts_pad; };
_Static_assert(sizeof(struct hfs_timespec_ondisk) == 16, "ts size");

struct hfs_inode_ondisk {
	uint32_t i_mode;            /*   0 st_mode (type + permission bits) */
	uint32_t i_uid;             /*   4 */
	uint32_t i_gid;             /*   8 */
	uint32_t i_nlink;           /*  12 */
	uint64_t i_size;            /*  16 */
	uint64_t i_blocks;          /*  24 bytes of data allocated / 512 */
	struct hfs_timespec_ondisk i_atime;  /* 32 */
	struct hfs_timespec_ondisk i_mtime;  /* 48 */
	struct hfs_timespec_ondisk i_ctime;  /* 64 */
	struct hfs_timespec_ondisk i_btime;  /* 80 */
	uint64_t i_rdev;            /*  96 */
	uint32_t i_flags;           /* 104 HFS_IFL_* (chattr flags; 0 before minor 2) */
	uint32_t i_generation;      /* 108 */
	uint64_t i_parent;          /* 112 directories: parent inode (for ".."), else 0 */
	uint8_t  i_reserved[8];     /* 120 */
};
_Static_assert(sizeof(struct hfs_inode_ondisk) == 128, "inode size");

/* i_flags: the inode flags chattr(1) sets, with Linux's FS_*_FL values
 * (FS_IOC_GETFLAGS returns them as they are); every other bit is 0. */
#define HFS_IFL_SYNC       0x00000008u   /* S: writes are durable when they return */
#define HFS_IFL_IMMUTABLE  0x00000010u   /* i: no change at all, no new links/entries */
#define HFS_IFL_APPEND     0x00000020u   /* a: writes only append; no unlink/rename/truncate */
#define HFS_IFL_NODUMP     0x00000040u   /* d: dump(8) skips it (kept, not acted on) */
#define HFS_IFL_NOATIME    0x00000080u   /* A: reads never move atime */
#define HFS_IFL_DIRSYNC    0x00010000u   /* D: directories: entry changes durable on return */
#define HFS_IFL_KNOWN      0x000100f8u

struct hfs_dirent_ondisk {
	uint64_t d_ino;             /* 0 */
	uint8_t  d_type;            /* 8 DT_* */
	uint8_t  d_namelen;         /* 9 1..255 */
	uint8_t  d_pad[6];          /* 10 */
	/* 16: d_namelen bytes of name, no NUL */
};
_Static_assert(sizeof(struct hfs_dirent_ondisk) == 16, "dirent size");

struct hfs_xattr_ondisk {
	uint8_t  x_namelen;         /* 0 1..255 (full name incl. namespace prefix) */
	uint8_t  x_flags;           /* 1 HFS_XATTRF_* (0 before minor 2) */
	uint16_t x_vallen;          /* 2 0..HFS_XATTR_MAX bytes inline (0 when CHUNKED) */
	uint32_t x_size;            /* 4 CHUNKED: the value's length, else 0 */
	/* 8: name bytes, then value bytes */
};
_Static_assert(sizeof(struct hfs_xattr_ondisk) == 8, "xattr size");
#define HFS_XATTR_MAX    4096u      /* largest value kept inline in the XATTR record */
/* A larger value (up to HFS_XATTR_SIZE_MAX, the VFS's XATTR_SIZE_MAX) sits in
 * XVAL records of HFS_XVAL_CHUNK bytes, chunk c holding bytes [c*4096, ...),
 * keyed by the XATTR key's hash and collision index (which must be below
 * 2^27), the record's chunk generation GEN and c.  A value is rewritten
 * under the other generation first, so a failure leaves the old one whole. */
#define HFS_XATTRF_CHUNKED 0x1u
#define HFS_XATTRF_GEN     0x2u
#define HFS_XATTR_SIZE_MAX 65536u
#define HFS_XVAL_CHUNK     4096u
static inline uint64_t hfs_xval_key(uint64_t xkey, unsigned gen, unsigned chunk)
{ return (xkey >> 32) << 32 | (xkey & 0x7ffffffu) << 5 | (uint64_t)gen << 4 | chunk; }
#define HFS_SYMLINK_MAX  4095u

#define HFS_DATAF_ZERO   0x1        /* unwritten (fallocated) extent, reads as zeros */
#define HFS_DATAF_PIECES 0x2        /* minor 6: the block is stored as 4 KiB pieces
				     * (struct hfs_pieces_ondisk), not one extent */
#define HFS_DATAF_CRC4K  0x4        /* minor 7: a full block's record carries the crc32 of
				     * each 4 KiB piece (struct hfs_crc4k_ondisk) */
struct hfs_data_ondisk {
	uint64_t d_addr;            /*  0 zaddr (zone SMALL or LARGE); PIECES: 0 */
	uint32_t d_len;             /*  8 bytes stored, multiple of HFS_BLKSIZE, <= HFS_FBLOCK;
				     *    PIECES: HFS_FBLOCK */
	uint32_t d_crc;             /* 12 crc32 of the d_len stored bytes; PIECES: 0 */
	uint32_t d_flags;           /* 16 HFS_DATAF_* */
	uint32_t d_pad;             /* 20 */
};
_Static_assert(sizeof(struct hfs_data_ondisk) == 24, "data size");

/* A DATA record with HFS_DATAF_PIECES (minor 6): file block b is stored as
 * HFS_NPIECE pieces of HFS_BLKSIZE bytes; piece p holds the block's bytes
 * [p * 4096, p * 4096 + 4096) in its own 4 KiB-aligned block of a SMALL or
 * LARGE big-block, or is a hole (p_addr 0: reads as zeros).  Written when
 * no contiguous extent is free (fragmented free space) and by a punch of
 * whole pieces inside a block, which frees the punched 4 KiB blocks. */
#define HFS_NPIECE (HFS_FBLOCK / HFS_BLKSIZE)    /* 16 */
struct hfs_piece_ondisk {
	uint64_t p_addr;            /*  0 zaddr (SMALL or LARGE, HFS_BLKSIZE aligned), 0 = hole */
	uint32_t p_crc;             /*  8 crc32 of the piece's HFS_BLKSIZE bytes (0 for a hole) */
	uint32_t p_pad;             /* 12 */
};
_Static_assert(sizeof(struct hfs_piece_ondisk) == 16, "piece size");
struct hfs_pieces_ondisk {
	struct hfs_data_ondisk pc_hdr;                  /*  0 d_flags = HFS_DATAF_PIECES */
	struct hfs_piece_ondisk pc_piece[HFS_NPIECE];   /* 24 */
};
_Static_assert(sizeof(struct hfs_pieces_ondisk) == 280, "pieces size");

/* A DATA record with HFS_DATAF_CRC4K (minor 7, volumes made with minor 7
 * or later): a written full block (d_len = HFS_FBLOCK, one extent) whose
 * record also holds the crc32 of each of its HFS_NPIECE 4 KiB pieces, so
 * a read of part of the block reads and verifies only the pieces it
 * needs.  d_crc is still the crc32 of the whole extent (equal to the 16
 * piece CRCs combined, as zlib's crc32_combine() does). */
struct hfs_crc4k_ondisk {
	struct hfs_data_ondisk c_hdr;                   /*  0 d_flags = HFS_DATAF_CRC4K */
	uint32_t c_crc[HFS_NPIECE];                     /* 24 crc32 of bytes [p*4096, p*4096+4096) */
};
_Static_assert(sizeof(struct hfs_crc4k_ondisk) == 88, "crc4k size");

/* ---- free map ------------------------------------------------------------
 * A sequence of HFS_BUFSIZE blocks at vh_freemap_base.  Block n has the
 * common header (magic HFS_FREEMAP_MAGIC) and describes big-blocks
 * [n*HFS_FM_PER_BLOCK, (n+1)*HFS_FM_PER_BLOCK): one entry each. */
struct hfs_fm_entry_ondisk {
	uint8_t  fm_zone;           /*  0 enum hfs_zone owning this big-block (FREE = none) */
	uint8_t  fm_pad[3];         /*  1 */
	uint32_t fm_free;           /*  4 free HFS_BLKSIZE blocks in it (0..2048) */
	uint8_t  fm_reserved[8];    /*  8 */
	uint8_t  fm_bitmap[HFS_BLKS_PER_BB / 8];  /* 16: bit i set = block i allocated (LSB first) */
};
_Static_assert(sizeof(struct hfs_fm_entry_ondisk) == 272, "fm entry size");
#define HFS_FM_PER_BLOCK ((HFS_BUFSIZE - 64) / 272)   /* 60 */
_Static_assert(64 + HFS_FM_PER_BLOCK * 272 == HFS_BUFSIZE, "fm block fill");

/* ---- UNDO FIFO -------------------------------------------------------------
 * Records are appended at 64-byte aligned FIFO offsets; a record never
 * wraps: when it does not fit before the end a PAD record fills the rest
 * and the next record starts at offset 0.  Each record of flush group s
 * carries u_seq = s.  Recovery scans from vh_undo_first while records
 * carry u_seq == vh_seq + 1 and a valid CRC, and writes every pre-image
 * back (their ranges never overlap within one group). */
#define HFS_UNDO_MAGIC  0x4e555348u   /* "HSUN" */
enum hfs_undo_type { HFS_UNDO_PREIMAGE = 1, HFS_UNDO_PAD = 2, HFS_UNDO_REDO = 3 };
#define HFS_UNDO_ALIGN  64u

struct hfs_undo_ondisk {
	uint32_t u_magic;           /*  0 */
	uint32_t u_crc;             /*  4 crc32 over header (this field 0) + payload */
	uint64_t u_seq;             /*  8 flush group */
	uint64_t u_target;          /* 16 zaddr of the range the payload restores */
	uint32_t u_len;             /* 24 payload bytes */
	uint16_t u_type;            /* 28 enum hfs_undo_type */
	uint16_t u_pad;             /* 30 */
	uint32_t u_size;            /* 32 whole record size, HFS_UNDO_ALIGN multiple */
	uint8_t  u_reserved[28];    /* 36 */
	/* 64: payload */
};
_Static_assert(sizeof(struct hfs_undo_ondisk) == 64, "undo size");

/* REDO record (u_type 3, minor 5): one operation acknowledged by an fsync
 * without a commit (fs/redo.c).  Payload: this header, the inode after the
 * operation (hfs_inode_ondisk), then r_len data bytes (HFS_REDO_WRITE).
 * u_target is 0; u_len = 32 + 128 + r_len (any length up to HFS_REDO_MAXLEN). */
enum hfs_redo_op { HFS_REDO_WRITE = 1, HFS_REDO_ATTR = 2 };
/* A recovery replays the records up to the last one with this flag: whole
 * fsyncs (the kernel may split one write(2) into several requests) */
#define HFS_REDO_END 0x1
#define HFS_REDO_MAXDATA (128u << 10)
#define HFS_REDO_MAXLEN  (32u + 128u + HFS_REDO_MAXDATA)
struct hfs_redo_ondisk {
	uint16_t r_op;              /*  0 enum hfs_redo_op */
	uint16_t r_flags;           /*  2 HFS_REDO_END: the last record of an fsync */
	uint32_t r_len;             /*  4 data bytes (WRITE), else 0 */
	uint64_t r_ino;             /*  8 */
	uint64_t r_off;             /* 16 file offset of the data (WRITE), else 0 */
	uint64_t r_reserved;        /* 24 */
	/* 32: struct hfs_inode_ondisk after the operation; 160: data */
};
_Static_assert(sizeof(struct hfs_redo_ondisk) == 32, "redo size");

#endif
