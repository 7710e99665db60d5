// The session loop of the low-level binding: one thread at a time reads /dev/fuse (the leader).
// A request answered from memory or handed to JavaScript is quick: the leader answers it and reads
// on, so the requests of a walk wake the same warm thread each time (libfuse 2's own loop keeps up to
// ten threads reading, and the kernel wakes them in turn, each one cold: ~10 % of an `ls -lR`).
// A request that may wait for a disk (READ or WRITE served from a layer file, a READDIR read from the
// layers, an OPEN of a lower file) stops the leader reading. If more requests wait already (asked only
// while such requests take 1 ms or more), another thread reads them at once; else the leader serves it and reads on, and the watcher makes another thread read if it takes more
// than WATCH_NS (a slow disk, a hung layer), so requests never wait long behind one that blocks. (The
// watcher wakes at most once per WATCH_NS, and only while such requests come: at 1 ms its wake-ups
// alone slowed a cold walk by ~10 % on two cores.)
// Threads are started when none waits for a turn, up to MAX_WORKERS. UFS_FUSE_MT_LOOP=1: libfuse's loop.
#include "ufs_fuse_ll.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define MAX_WORKERS 16             /* UFS_FUSE_WORKERS=N: at most N (1: one thread does everything) */
#define WATCH_NS 3000000L          /* how long a request that blocks may keep the others waiting */
#define WATCH_IDLE 30              /* watcher rounds without such a request before it sleeps */
#define SLOW_NS 1000000L           /* a may-block request served in place took this long: poll after the next */
enum { OPCODE_OPEN = 14, OPCODE_READ = 15, OPCODE_WRITE = 16, OPCODE_READDIR = 28 };

typedef struct loop {
  struct fuse_session *se;
  int fd;                          /* /dev/fuse, polled for requests already waiting */
  pthread_mutex_t lock;
  pthread_cond_t turn;             /* the reading is free (or the session ended) */
  pthread_cond_t watch;            /* the watcher has something to watch (or the session ended) */
  pthread_cond_t gone;             /* a thread ended */
  int leading;                     /* a thread reads /dev/fuse or is about to */
  int waiting;                     /* threads waiting for their turn */
  int threads, workers, max_workers;
  int unled;                       /* no thread reads: the last leader serves a request that may block */
  struct timespec unled_since;
  int watching;                    /* the watcher checks every WATCH_NS (else it sleeps until signalled) */
  int slow;                        /* the last may-block request served in place took SLOW_NS or more */
  int ended;
} loop_t;

static void *worker(void *arg);
static void *watcher(void *arg);
static long ns_since(const struct timespec *t);

/* With the lock held: a thread more, every signal blocked in it (they are the process's, not ours). */
static void start(loop_t *lp, void *(*fn)(void *)) {
  pthread_t th;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  if (pthread_create(&th, NULL, fn, lp) == 0) { lp->threads++; if (fn == worker) lp->workers++; pthread_detach(th); }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* With the lock held: another thread reads from now on (one waiting, or a new one). */
static void hand_on(loop_t *lp) {
  lp->unled = 0;
  if (lp->waiting) pthread_cond_signal(&lp->turn);
  else if (lp->workers < lp->max_workers) start(lp, worker);
}

/* A READ or WRITE may be served from a layer file, a READDIR read from the layers (READDIRPLUS
   arrives as READDIR, ufs_ll_chan.c), an OPEN opened from them (ufs_ll_open.c). */
static int may_block(const struct fuse_buf *b) {
  if ((b->flags & FUSE_BUF_IS_FD) || b->size < 8) return 1;
  uint32_t op = ((const uint32_t *)b->mem)[1];
  return op == OPCODE_READ || op == OPCODE_WRITE || op == OPCODE_READDIR || op == OPCODE_OPEN;
}

static int requests_waiting(const loop_t *lp) {
  struct pollfd p = { .fd = lp->fd, .events = POLLIN };
  return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void *worker(void *arg) {
  loop_t *lp = arg;
  struct fuse_chan *ch = fuse_session_next_chan(lp->se, NULL);
  size_t size = fuse_chan_bufsize(ch);
  char *mem = malloc(size);
  int lead = 0;
  pthread_mutex_lock(&lp->lock);
  while (mem) {
    if (!lead) {
      lp->waiting++;
      while (lp->leading && !lp->ended) pthread_cond_wait(&lp->turn, &lp->lock);
      lp->waiting--;
      if (lp->ended) break;
      lp->leading = lead = 1;
      lp->unled = 0;
    }
    pthread_mutex_unlock(&lp->lock);
    struct fuse_buf buf = { .mem = mem, .size = size };
    struct fuse_chan *from = ch;
    int res = fuse_session_exited(lp->se) ? 0 : fuse_session_receive_buf(lp->se, &buf, &from);
    pthread_mutex_lock(&lp->lock);
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res <= 0) {                  /* unmounted (ENODEV), or an error: the session is over */
      fuse_session_exit(lp->se);
      lp->ended = 1;
      pthread_cond_broadcast(&lp->turn);
      pthread_cond_broadcast(&lp->watch);
      break;
    }
    int blocks = may_block(&buf);
    struct timespec began;
    if (blocks) {
      clock_gettime(CLOCK_MONOTONIC, &began);
      lp->leading = lead = 0;
      /* whether requests wait already is asked (a poll, ~4 us on a virtual machine: 4 % of a cold
         4 KiB read) only while such requests are slow; quick ones are served in place and read on */
      if (lp->slow && requests_waiting(lp)) hand_on(lp);
      else {
        lp->unled = 1;
        lp->unled_since = began;
        if (!lp->watching) pthread_cond_signal(&lp->watch);
      }
    }
    pthread_mutex_unlock(&lp->lock);
    fuse_session_process_buf(lp->se, &buf, from);
    pthread_mutex_lock(&lp->lock);
    if (blocks) lp->slow = ns_since(&began) >= SLOW_NS;
    if (blocks && !lp->leading && !lp->ended) {   /* nobody took the reading over: on with it */
      lp->leading = lead = 1;
      lp->unled = 0;
    }
  }
  if (lead) { lp->leading = 0; pthread_cond_signal(&lp->turn); }
  lp->workers--;
  lp->threads--;
  pthread_cond_broadcast(&lp->gone);
  pthread_mutex_unlock(&lp->lock);
  free(mem);
  return NULL;
}

static long ns_since(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t->tv_sec) * 1000000000L + (now.tv_nsec - t->tv_nsec);
}

/* Makes another thread read when a request that may block has kept the reading stopped for WATCH_NS:
   wakes when the current one's time is up (or every WATCH_NS while none is current), and sleeps until
   signalled after WATCH_IDLE rounds without one. */
static void *watcher(void *arg) {
  loop_t *lp = arg;
  int idle = 0;
  pthread_mutex_lock(&lp->lock);
  lp->watching = 1;
  while (!lp->ended) {
    long wait = WATCH_NS;
    if (lp->unled) {
      idle = 0;
      long left = WATCH_NS - ns_since(&lp->unled_since);
      if (left <= 0) { if (!lp->leading) hand_on(lp); else lp->unled = 0; continue; }
      wait = left;
    } else if (++idle > WATCH_IDLE) {
      lp->watching = 0;
      while (!lp->unled && !lp->ended) pthread_cond_wait(&lp->watch, &lp->lock);
      lp->watching = 1;
      idle = 0;
      continue;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += wait;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&lp->watch, &lp->lock, &until);
  }
  lp->threads--;
  pthread_cond_broadcast(&lp->gone);
  pthread_mutex_unlock(&lp->lock);
  return NULL;
}

void session_loop(mount_state_t *m) {
  sigset_t all;                      /* here and in every thread it starts */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  const char *mt = getenv("UFS_FUSE_MT_LOOP");
  if (mt && mt[0] == '1') { fuse_session_loop_mt(m->se); return; }
  const char *w = getenv("UFS_FUSE_WORKERS");
  int max = w ? atoi(w) : MAX_WORKERS;
  loop_t lp = { .se = m->se, .fd = fuse_chan_fd(m->ch), .threads = 1, .workers = 1, .max_workers = max < 1 ? 1 : max > 64 ? 64 : max };
  pthread_mutex_init(&lp.lock, NULL);
  pthread_cond_init(&lp.turn, NULL);
  pthread_cond_init(&lp.watch, NULL);
  pthread_cond_init(&lp.gone, NULL);
  pthread_mutex_lock(&lp.lock);
  if (lp.max_workers > 1) start(&lp, watcher);
  pthread_mutex_unlock(&lp.lock);
  worker(&lp);                       /* this thread is the first worker */
  pthread_mutex_lock(&lp.lock);
  while (lp.threads > 0) pthread_cond_wait(&lp.gone, &lp.lock);
  pthread_mutex_unlock(&lp.lock);
  pthread_cond_destroy(&lp.gone);
  pthread_cond_destroy(&lp.watch);
  pthread_cond_destroy(&lp.turn);
  pthread_mutex_destroy(&lp.lock);
}
