// The low-level binding's channel to the kernel: reads requests from and writes answers to the
// /dev/fuse descriptor that fuse_mount opened, as libfuse 2's own kernel channel does, and in the
// answer to INIT asks for what libfuse 2 cannot, when the kernel offers it and the mount wants it:
// POSIX ACLs (FUSE_POSIX_ACL, mount flags bit 2), so that the kernel checks permissions with ACLs
// and keeps them cached (ls -l asks for one per file); and READDIRPLUS (FUSE_DO_READDIRPLUS, when
// answers are kept), which libfuse 2 does not know: such a request reaches it as a
// READDIR whose open directory is marked `plus`, and serve_dir answers it with each entry's
// attributes, so that a walk does not look every name up.
#include "ufs_fuse_ll.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The kernel protocol's headers (linux/fuse.h), the parts used here. */
struct in_header { uint32_t len, opcode; uint64_t unique, nodeid; uint32_t uid, gid, pid, padding; };
struct init_in { uint32_t major, minor, max_readahead, flags; };
struct out_header { uint32_t len; int32_t error; uint64_t unique; };
struct init_out { uint32_t major, minor, max_readahead, flags; };
struct read_in { uint64_t fh, offset; uint32_t size, read_flags; uint64_t lock_owner; uint32_t flags, padding; };
#define OPCODE_INIT 26
#define OPCODE_READDIR 28
#define OPCODE_READDIRPLUS 44
#define POSIX_ACL (1u << 20)
#define DO_READDIRPLUS (1u << 13)

static int chan_receive(struct fuse_chan **chp, char *buf, size_t size) {
  struct fuse_chan *ch = *chp;
  struct fuse_session *se = fuse_chan_session(ch);
  mount_state_t *m = fuse_chan_data(ch);
  for (;;) {
    if (fuse_session_exited(se)) return 0;
    ssize_t res = read(fuse_chan_fd(ch), buf, size);
    int err = errno;
    if (fuse_session_exited(se)) return 0;
    if (res == -1) {
      if (err == ENOENT) continue;   /* the request was interrupted meanwhile */
      if (err == ENODEV) { fuse_session_exit(se); return 0; }   /* unmounted */
      if (err != EINTR && err != EAGAIN) perror("fuse: reading device");
      return -err;
    }
    if ((size_t)res < sizeof(struct in_header)) {
      fprintf(stderr, "short read on fuse device\n");
      return -EIO;
    }
    struct in_header *h = (struct in_header *)buf;
    if ((h->opcode == OPCODE_READDIRPLUS || h->opcode == OPCODE_READDIR) && (size_t)res >= sizeof *h + sizeof(struct read_in)) {
      /* the kernel reads one open directory at a time: the mark holds until this request is answered */
      dirh_t *d = (dirh_t *)(uintptr_t)((const struct read_in *)(h + 1))->fh;
      if (d) d->plus = h->opcode == OPCODE_READDIRPLUS;
      h->opcode = OPCODE_READDIR;
    }
    if (h->opcode == OPCODE_INIT && (size_t)res >= sizeof *h + sizeof(struct init_in)) {
      const struct init_in *in = (const struct init_in *)(h + 1);
      uint32_t add = 0;
      if (m->want_acl && in->major == 7 && in->minor >= 26 && (in->flags & POSIX_ACL)) add |= POSIX_ACL;
      if (m->want_plus && in->major == 7 && in->minor >= 21 && (in->flags & DO_READDIRPLUS))
        add |= DO_READDIRPLUS;   /* every time (not _AUTO): a walk's later chunks of a large directory too */
      if (add) { m->init_add = add; __atomic_store_n(&m->init_unique, h->unique, __ATOMIC_SEQ_CST); }
    }
    return (int)res;
  }
}

static int chan_send(struct fuse_chan *ch, const struct iovec iov[], size_t count) {
  if (!iov) return 0;
  mount_state_t *m = fuse_chan_data(ch);
  uint64_t init = __atomic_load_n(&m->init_unique, __ATOMIC_SEQ_CST);
  if (init && count >= 2 && iov[0].iov_len >= sizeof(struct out_header) && iov[1].iov_len >= sizeof(struct init_out)) {
    const struct out_header *o = iov[0].iov_base;
    if (o->unique == init && o->error == 0) {   /* INIT's answer: libfuse's, with what it cannot ask for */
      ((struct init_out *)iov[1].iov_base)->flags |= m->init_add;
      __atomic_store_n(&m->init_unique, 0, __ATOMIC_SEQ_CST);
      m->acl = (m->init_add & POSIX_ACL) != 0;
      m->plus = (m->init_add & DO_READDIRPLUS) != 0;
    }
  }
  ssize_t res = writev(fuse_chan_fd(ch), iov, (int)count);
  int err = errno;
  if (res == -1) {
    if (!fuse_session_exited(fuse_chan_session(ch)) && err != ENOENT) perror("fuse: writing device");   /* ENOENT: interrupted */
    return -err;
  }
  return 0;
}

static void chan_destroy(struct fuse_chan *ch) { (void)ch; }   /* the descriptor is fuse_mount's channel's */

static struct fuse_chan_ops chan_ops = { .receive = chan_receive, .send = chan_send, .destroy = chan_destroy };

struct fuse_chan *chan_wrap(mount_state_t *m, struct fuse_chan *kch) {
  return fuse_chan_new(&chan_ops, fuse_chan_fd(kch), fuse_chan_bufsize(kch), m);
}
