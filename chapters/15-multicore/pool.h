/*
 * pool.h - a fixed set of worker threads for blocking work, a bounded
 * queue in front of them, and a done-list behind them that wakes the
 * event loop through an eventfd.
 *
 * Some work cannot wait on epoll: open(2) and read(2) on a file (or a
 * FIFO) and getaddrinfo(3) block the thread that calls them, whatever
 * O_NONBLOCK says. The loop hands such work to the pool and goes on
 * serving; a worker runs it with ordinary blocking calls, puts the job,
 * now holding its result, on the done-list, and wakes the loop:
 *
 *	loop --pool_submit--> queue --worker runs job--> done-list
 *	  ^                                                  |
 *	  +---- epoll: the eventfd (POOL's token) <-- write -+
 *
 * The loop then takes the whole done-list at once (pool_done). A job
 * carries its own input and result and never touches what the loop owns:
 * the loop matches a result to its connection by the token in the job,
 * and a connection gone meanwhile is simply not found.
 *
 * Bounds: the queue holds at most queue_cap jobs (pool_submit refuses
 * more at once, and the caller answers 503); jobs marked slow (name
 * lookups, which may wait seconds on a DNS server) run on at most half
 * the workers, as libuv's threadpool does, so that they cannot take every
 * worker from the file reads.
 *
 * Workers block every signal. Only the loops call these functions (and
 * main, pool_start before them and pool_stop after).
 *
 * Sections: a job, the pool, using it.
 */
#ifndef POOL_H
#define POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*** a job ***/

/* ANCHOR: job */
/*
 * One piece of blocking work. Embed it first in a struct of your own that
 * holds the input and the result; run does the work in a worker, with
 * blocking calls, and may be cancelled at their cancellation points
 * (pthreads(7)) when the pool stops: it must push cleanup handlers for
 * what it holds meanwhile. The pool frees a job it drops with free(3).
 */
struct pool_job {
	struct pool_job *next;		 /* in the queue or the done-list */
	void (*run)(struct pool_job *j); /* the work, in a worker thread */
	uint64_t token;			 /* whose it is: the loop's business */
	unsigned home;			 /* which loop's done-list it goes to */
	bool slow;			 /* may wait long: half the workers */
};
/* ANCHOR_END: job */

/*** the pool ***/

/* ANCHOR: pool */
/* One worker thread. */
struct pool_worker {
	pthread_t thread;  /* the thread */
	struct pool *pool; /* its pool */
	bool busy;	   /* running a job (under the pool's lock) */
};

/*
 * New in chapter 15: a home for each event loop that submits jobs: its
 * own done-list and its own eventfd, so that a finished job wakes the
 * loop that owns its connection, and only that one.
 */
struct pool_home {
	struct pool_job *done;	/* finished jobs, newest first */
	int wake_fd;		/* the eventfd that loop watches */
};

struct pool {
	pthread_mutex_t lock;	/* guards everything below but the fds */
	pthread_cond_t work;	/* signalled when a job is queued, or stop */
	struct pool_job *head;	/* the queue, oldest first */
	struct pool_job *tail;	/* its newest job, to append to */
	size_t queued;		/* jobs in the queue */
	size_t queue_cap;	/* the most it holds (-Q) */
	unsigned slow_running;	/* slow jobs running now */
	unsigned slow_cap;	/* the most that may run at once */
	bool stopping;		/* pool_stop was called: workers leave */
	struct pool_home *homes; /* one per loop: done-lists, eventfds */
	unsigned nhomes;	/* how many */
	struct pool_worker *workers; /* the workers */
	unsigned nworkers;	/* how many were started */
};
/* ANCHOR_END: pool */

/*** using it ***/

/*
 * pool_start: start workers threads with a queue of queue_cap jobs, for
 * homes loops. Each loop registers p->homes[i].wake_fd in its epoll for
 * reading, edge-triggered: it is readable (and reported once more) after
 * each wake. Returns 0, or -1 with errno set and *what naming the call
 * that failed (nothing is left behind).
 */
int pool_start(struct pool *p, unsigned workers, size_t queue_cap,
	       unsigned homes, const char **what);

/*
 * pool_submit: queue job j, whose result goes to loop j->home. Returns 0, or -1 with errno EAGAIN if the queue
 * is full: j is still the caller's.
 */
int pool_submit(struct pool *p, struct pool_job *j);

/*
 * pool_done: loop home's eventfd was reported: take every finished job of
 * its done-list, oldest first (a list through next, NULL if none). They
 * are the caller's to free.
 */
struct pool_job *pool_done(struct pool *p, unsigned home);

/*
 * pool_stop: drop (free) the jobs still queued, cancel the ones running (a
 * worker blocked in open or read leaves it at once; a lookup, which is not
 * cancellable, is waited for), join every worker, close the eventfds.
 * Returns the finished jobs of every home, the caller's to free. Only
 * once no loop will call pool_submit or pool_done again.
 */
struct pool_job *pool_stop(struct pool *p);

#endif /* POOL_H */
