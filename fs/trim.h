/* trim.h — FITRIM through FUSE's ioctl op (trim.c). */
#ifndef HFS_TRIM_H
#define HFS_TRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <fuse_lowlevel.h>

/* FITRIM of <linux/fs.h>, spelled out so that callers need not include it */
struct hfs_fstrim_range { uint64_t start, len, minlen; };
#define HFS_IOC_FITRIM _IOWR('X', 121, struct hfs_fstrim_range)

/* FITRIM: in/in_size the caller's struct fstrim_range (the kernel copies
 * it by the _IOWR encoding), out_size the room for the reply.  Replies
 * (the updated range, or the errno). */
void hfs_ioctl_trim(fuse_req_t req, const void *in, size_t in_size, size_t out_size);

#endif
