/* shutdown.h — FS_IOC_SHUTDOWN and the gate that fails every operation
 * with EIO after it (shutdown.c). */
#ifndef HFS_SHUTDOWN_H
#define HFS_SHUTDOWN_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <fuse_lowlevel.h>

/* The generic shutdown ioctl (XFS_IOC_GOINGDOWN, FS_IOC_SHUTDOWN in newer
 * kernel headers) and its flags word. */
#define HFS_IOC_SHUTDOWN         _IOR('X', 125, uint32_t)
#define HFS_SHUTDOWN_DEFAULT     0u   /* flush data and metadata, then stop */
#define HFS_SHUTDOWN_LOGFLUSH    1u   /* commit metadata, then stop */
#define HFS_SHUTDOWN_NOLOGFLUSH  2u   /* stop now: the last commit stays */

struct hfs_fs;
int  hfs_is_shut_down(const struct hfs_fs *fs);
int  hfs_shutdown(struct hfs_fs *fs, uint32_t flags);          /* 0 or -errno */
void hfs_ioctl_shutdown(fuse_req_t req, void *arg);            /* replies */
/* out = in with every operation but forget/release/flush/statfs/init/destroy
 * failing with EIO once the filesystem is shut down. */
void hfs_shutdown_gate(const struct fuse_lowlevel_ops *in, struct fuse_lowlevel_ops *out);

#endif
