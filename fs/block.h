/*
 * block.h — fs-internal contract between the file-data files: the record
 * layer (block.c: DATA, overlay and unwritten records of 64 KiB file
 * blocks), data sections (section.c: file I/O without fs->lock), and the
 * operations built on them (file.c: read and write; file_space.c:
 * truncate, punch, fallocate, seek).  Not a layer header: fs/hfs.h is.
 */
#ifndef HFS_FS_BLOCK_H
#define HFS_FS_BLOCK_H

#include <pthread.h>
#include "fs/hfs_int.h"

/* 4 KiB pieces of a file block */
#define NPIECE (HFS_FBLOCK / HFS_BLKSIZE)

/* One DATA record as read from the tree (present = 0: a hole).  A pieces
 * record (flags HFS_DATAF_PIECES, pieces.c) has addr 0, len HFS_FBLOCK
 * and its pieces in paddr/pcrc (paddr 0: a hole); a CRC4K record (flags
 * HFS_DATAF_CRC4K, a full block in one extent) has its pieces' CRCs in
 * pcrc and paddr zero; other records leave both zero. */
struct rec {
	int present;
	uint64_t addr;
	uint32_t len, crc, flags;
	uint64_t paddr[NPIECE];
	uint32_t pcrc[NPIECE];
};

/* The overlays of one block: r[p] is valid where bit p of mask is set. */
struct ovl {
	unsigned n;          /* overlays on the block */
	uint32_t mask;       /* bit p: piece p has one */
	struct rec r[NPIECE];
};

/* Completion counting for direct I/O: one request or a batch of them. */
#define BATCH_MAX 32
struct batch_wait {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int left, err;
};

static inline uint32_t crc_of(const void *p, size_t len)
{
	return hfs_crc32(0, p, len);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* records and extents (block.c); fs->lock held unless said otherwise */
int rec_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct rec *r);
int small_read(struct hfs_fs *fs, uint64_t raw, uint8_t *out, uint32_t len);
/* Writes through DATA buffers without reading the rest of a buffer it
 * covers in part (bc_get_part). */
int small_write(struct hfs_fs *fs, uint64_t raw, const uint8_t *src, uint32_t len);
int crc_verify(void *priv, const void *buf, size_t len);
int rec_heal(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out);
int rec_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out);
int block_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *out);
int data_alloc(struct hfs_fs *fs, uint32_t *len, uint64_t *za);
int block_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		uint32_t len, const struct rec *old);
int block_store_at(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		   uint32_t len, const struct rec *old, uint64_t za, int inplace);
int block_prealloc(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo);
int block_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *r);

/* CRC4K records (block.c, docs/FORMAT.md §5): a written full block whose
 * record holds the crc32 of each 4 KiB piece besides the whole one, so a
 * read of part of it reads and verifies only the pieces it needs. */
static inline int rec_crc4k(const struct rec *r) { return r->present && (r->flags & HFS_DATAF_CRC4K); }
/* Does a full block written now get a CRC4K record (the volume's minor)? */
int crc4k_wanted(const struct hfs_fs *fs);
/* The crc32 of each 4 KiB piece of a 64 KiB block into pcrc; returns the
 * block's crc32, combined from them (each byte is checksummed once). */
uint32_t crc4k_sum(const uint8_t *blk, uint32_t pcrc[NPIECE]);
/* The value of a written DATA record of one extent: CRC4K (pcrc given,
 * len HFS_FBLOCK) or plain.  Returns its length. */
size_t data_encode(uint64_t za, uint32_t len, uint32_t crc, const uint32_t *pcrc,
		   struct hfs_crc4k_ondisk *v);
/* Read len bytes of extent za (zaddr: LARGE direct, SMALL through the
 * cache), unverified: 0 or -errno.  fs->lock held for SMALL. */
int extent_read(struct hfs_fs *fs, uint64_t za, uint8_t *buf, uint32_t len);
/* Piece p of a pieces or CRC4K record r as a record of its own (for
 * rec_heal): its own address and CRC. */
struct rec rec_piece(const struct rec *r, unsigned p);
/* Piece p of r, read into blk (block offsets; rerr: that read's result):
 * 0 when its CRC matches, else it is read again from every copy (bad
 * copies healed) or -EIO.  No fs->lock needed (as rec_heal). */
int piece_verify(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		 unsigned p, int rerr);
/* Verify pieces [p0, p1) of CRC4K record r, read into blk (block offsets;
 * rerr: that read's result), but not those of mask skip; a piece that
 * failed is read again from every copy (bad copies healed), else -EIO.
 * No fs->lock needed (as rec_heal). */
int crc4k_check(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		unsigned p0, unsigned p1, uint32_t skip, int rerr);
/* Read the bytes [lo, hi) of record r (any but pieces) into blk (block
 * offsets), verified: of a CRC4K record only the pieces they meet (less
 * those of mask skip, which overlays supersede), of another the whole
 * record (rec_read).  fs->lock held (SMALL extents). */
int rec_read_part(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		  size_t lo, size_t hi, uint32_t skip);

/* pieces records (pieces.c, docs/FORMAT.md §5): fs->lock held.  A block
 * whose copy-on-write finds no contiguous extent, or that a punch of whole
 * 4 KiB pieces frees in part, is stored as up to 16 pieces anywhere. */
static inline int rec_pieces(const struct rec *r) { return r->present && (r->flags & HFS_DATAF_PIECES); }
/* Bytes of space r itself holds (not its overlays). */
uint32_t rec_bytes(const struct rec *r);
/* Decode a pieces record's value into r (0 or -EUCLEAN). */
int pieces_decode(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct hfs_pieces_ondisk *v,
		  struct rec *r);
/* Read the pieces of r that meet block bytes [lo, hi) into blk (a 64 KiB
 * block buffer, block offsets), holes as zeros, each CRC verified (a bad
 * copy healed from a good one, else -EIO). */
int pieces_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		size_t lo, size_t hi);
/* The same for some pieces only: PIECES_SMALL those in SMALL big-blocks
 * (and the holes), which need fs->lock (the DATA buffers); PIECES_LARGE
 * those in LARGE ones (direct reads), which a data section may read
 * without it (D1 keeps their space from reuse; healing needs no lock). */
#define PIECES_SMALL 1u
#define PIECES_LARGE 2u
int pieces_read_part(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct rec *r, uint8_t *blk,
		     size_t lo, size_t hi, unsigned which);
/* Free everything r references (its extent or pieces, and its overlays)
 * and take it off ip->blocks; the record itself is the caller's. */
int rec_release(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *r);
/* Store data (a 4096-aligned 64 KiB block buffer; the first len bytes
 * count) as fresh pieces over old: block_store's way when no extent fits. */
int pieces_store(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const uint8_t *data,
		 uint32_t len, const struct rec *old);
/* Write n bytes of src at block offset in (partial) into cur (a pieces
 * block, or any record but an unwritten one, or none): the pieces it
 * touches go to fresh space, the others stay (a record that is not pieces
 * yet becomes pieces pointing into its extent and overlays). */
int pieces_write(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *cur,
		 size_t in, const uint8_t *src, size_t n);
/* Punch block bytes [s, e) (not the whole block) of cur, a written record:
 * a pieces block loses the pieces inside, any other block becomes pieces
 * that keep pointing into its extent and overlays, less the punched ones,
 * which are freed; pieces cut in part are rewritten to fresh space. */
int pieces_punch(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *cur,
		 uint32_t s, uint32_t e);
/* fallocate over a pieces block: its holes get zero-filled pieces. */
int pieces_fill(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo, const struct rec *cur);

/* overlays (block.c) */
int ovl_get(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, struct ovl *o);
int ovl_capable(const struct rec *r);
int ovl_read(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, const struct ovl *o,
	     uint8_t *blk, size_t lo, size_t hi);
int ovl_drop(struct hfs_fs *fs, struct hfs_inode *ip, uint64_t fbo);

/* unwritten records filled in place (block.c, rule D7) */
int rec_inplace(const struct rec *r);
int inplace_find(struct hfs_fs *fs, uint64_t ino, uint64_t fbo);
int inplace_claim(struct hfs_fs *fs, uint64_t ino, uint64_t fbo);
void inplace_release(struct hfs_fs *fs, uint64_t ino, uint64_t fbo);

/* batches of direct I/O (block.c); no lock needed */
void batch_done(void *priv, int err);
int batch_wait_all(struct batch_wait *w);
void batch_add(struct batch_wait *w, int n);

/* data sections (section.c, rules D1-D6 there) */
int data_enter(struct hfs_fs *fs);
void data_leave(struct hfs_fs *fs);

/* held part blocks (held.c, its (H1)-(H4)); fs->lock held */
struct hfs_held;
int  held_put(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, uint64_t addr, size_t in,
	      const uint8_t *src, size_t n, int may_create, struct hfs_held **out, uint32_t *gen);
int  held_exists(struct hfs_fs *fs, uint64_t ino, uint64_t fbo);
int  held_absorb(struct hfs_fs *fs, uint64_t ino, uint64_t fbo, size_t in, const uint8_t *src,
		 size_t n);
const uint8_t *held_buf(const struct hfs_held *e);
uint64_t held_za(const struct hfs_held *e);
int  held_inplace(const struct hfs_held *e);
int  held_current(const struct hfs_held *e, uint32_t gen);
void held_release(struct hfs_fs *fs, struct hfs_held *e, int claimed, int referenced);

#endif
