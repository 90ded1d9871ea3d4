/*
 * engine.h — the asynchronous I/O engine interface of raid/.  Two engines
 * implement it and pass the same tests: io_uring (engine_uring.c) and a
 * worker pool (engine_pool.c).
 *
 * A request is a plain pread/pwrite/fdatasync on one file descriptor.
 * Completion: er_done(req, res) with res = bytes transferred or -errno,
 * called on an engine thread (never on the submitter's stack).  A short
 * transfer is continued by the engine, so res is either er_len or < 0.
 * raid_engine_run is the exception: it does the request on the calling
 * thread and returns res; the DAG layer then completes the node itself
 * (dag.c, a lone read its submitter waits for).
 */
#ifndef HFS_RAID_ENGINE_H
#define HFS_RAID_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* DISCARD: er_len bytes at er_off are no longer needed (er_buf unused):
 * ioctl(BLKDISCARD) when er_blkdev, else fallocate(PUNCH_HOLE|KEEP_SIZE);
 * res 0 or -errno (-EOPNOTSUPP when the file or device supports neither).
 * The io_uring engine hands discards to a worker-pool engine of its own
 * (BLKDISCARD is a blocking ioctl io_uring 2.3 cannot issue). */
enum raid_eop { RAID_EOP_READ = 1, RAID_EOP_WRITE = 2, RAID_EOP_FSYNC = 3, RAID_EOP_DISCARD = 4 };

struct raid_eng_req {
	int      er_fd;
	enum raid_eop er_op;
	uint64_t er_off;
	void    *er_buf;
	size_t   er_len;
	int      er_blkdev;         /* DISCARD: er_fd is a block device */
	size_t   er_done_bytes;     /* engine private: progress on short I/O */
	void   (*er_done)(struct raid_eng_req *r, long res);
	void    *er_priv;
};

struct raid_engine;
struct raid_engine_ops {
	const char *name;
	int  (*submit)(struct raid_engine *e, struct raid_eng_req **reqs, int n);
	void (*destroy)(struct raid_engine *e);   /* waits for queued requests */
};
struct raid_engine {
	const struct raid_engine_ops *ops;
};

int raid_engine_uring_create(unsigned depth, struct raid_engine **out);
int raid_engine_pool_create(unsigned workers, struct raid_engine **out);
/* The discard system call of one request (engine_pool.c): 0 or -errno. */
long raid_engine_discard(const struct raid_eng_req *r);
/* The whole request on the calling thread (what a pool worker does; short
 * transfers continued): er_len (0 for FSYNC and DISCARD) or -errno. */
long raid_engine_run(struct raid_eng_req *r);

#endif
