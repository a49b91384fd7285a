/*
 * pool.c - the worker threads of pool.h, their queue, and the waker.
 *
 * One mutex guards the queue, the counters and the done-list; the
 * workers sleep on one condition variable until a job is queued. The
 * loop's side (pool_submit, pool_done) holds the lock for a few pointer
 * moves, never across a system call.
 *
 * Sections: the waker, the queue, the workers, starting and stopping.
 */
/* eventfd(2), pthread_sigmask(3) under -std=c11. */
#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pool.h"

/*** the waker ***/

/* ANCHOR: wake */
/*
 * wake: make the loop's eventfd readable, which epoll reports to the
 * loop (edge-triggered: once per write). An eventfd is a 64-bit counter
 * (eventfd(2)): a write adds to it, a read returns it and resets it to 0.
 * The loop never reads it, since edge-triggering needs no read to report
 * the next write, so the counter only grows, by one per wake; a write
 * that would take it past 0xfffffffffffffffe fails with EAGAIN (the
 * descriptor is non-blocking) and raises no event. That takes 2^64 wakes,
 * but a lost wake-up is a hung client, so, as mio's Waker does: read,
 * which resets the counter, and write again.
 */
static void wake(int fd)
{
	uint64_t one = 1, n;

	while (write(fd, &one, sizeof(one)) == -1) {
		if (errno == EAGAIN) {
			if (read(fd, &n, sizeof(n)) == -1 &&
			    errno != EAGAIN)
				return;
		} else if (errno != EINTR) {
			return; /* EBADF and friends: a bug, not a state */
		}
	}
}

/*
 * publish: job j is finished: put it on the done-list, then wake the
 * loop. In that order: woken first, the loop could look, find nothing,
 * and go back to sleep before j is there, with no wake left to come.
 * Only a job that finds the list empty wakes it: if the list holds jobs,
 * their wake is on its way or has come and the loop has not yet taken
 * them, and it takes j with them. A burst of completions costs one write.
 */
static void publish(struct pool *p, struct pool_job *j)
{
	struct pool_home *h = &p->homes[j->home];
	bool was_empty;

	pthread_mutex_lock(&p->lock);
	if (j->slow)
		p->slow_running--;
	was_empty = h->done == NULL;
	j->next = h->done;
	h->done = j;
	pthread_mutex_unlock(&p->lock);
	if (was_empty)
		wake(h->wake_fd); /* the loop that owns j's connection */
}
/* ANCHOR_END: wake */

/*** the queue ***/

int pool_submit(struct pool *p, struct pool_job *j)
{
	pthread_mutex_lock(&p->lock);
	if (p->queued == p->queue_cap) {
		pthread_mutex_unlock(&p->lock);
		errno = EAGAIN;
		return -1;
	}
	j->next = NULL;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ANCHOR: take */
/*
 * take: the oldest queued job a worker may run now: a slow one only while
 * fewer than slow_cap are running. NULL if none. Called with the lock
 * held. The queue is at most -Q long, so the walk is short.
 */
static struct pool_job *take(struct pool *p)
{
	struct pool_job *prev = NULL;

	for (struct pool_job *j = p->head; j; prev = j, j = j->next) {
		if (j->slow && p->slow_running == p->slow_cap)
			continue;
		if (prev)
			prev->next = j->next;
		else
			p->head = j->next;
		if (p->tail == j)
			p->tail = prev;
		p->queued--;
		if (j->slow)
			p->slow_running++;
		return j;
	}
	return NULL;
}
/* ANCHOR_END: take */

/* reverse: list l in the other order. */
static struct pool_job *reverse(struct pool_job *l)
{
	struct pool_job *r = NULL;

	while (l) {
		struct pool_job *next = l->next;

		l->next = r;
		r = l;
		l = next;
	}
	return r;
}

/* ANCHOR: done */
struct pool_job *pool_done(struct pool *p, unsigned home)
{
	struct pool_job *l;

	pthread_mutex_lock(&p->lock);
	l = p->homes[home].done;
	p->homes[home].done = NULL;
	pthread_mutex_unlock(&p->lock);
	return reverse(l); /* oldest first */
}
/* ANCHOR_END: done */

/*** the workers ***/

/* ANCHOR: worker */
/*
 * run: run job j; if the worker is cancelled in it, free j on the way out
 * (this handler runs after the job's own). In a function of its own, so
 * that nothing between push and pop changes j: the handler's setjmp
 * would not restore it.
 */
static void run(struct pool_job *j)
{
	pthread_cleanup_push(free, j);
	j->run(j);
	pthread_cleanup_pop(0);
}

/*
 * worker: take a job, run it, publish it, until the pool stops. A worker
 * can be cancelled (pthread_cancel) only where a job's run enables it,
 * around its blocking calls.
 */
static void *worker(void *arg)
{
	struct pool_worker *me = arg;
	struct pool *p = me->pool;
	struct pool_job *j;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stopping && !(j = take(p)))
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stopping)
			break;
		me->busy = true;
		pthread_mutex_unlock(&p->lock);
		run(j);
		publish(p, j);
		pthread_mutex_lock(&p->lock);
		me->busy = false;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}
/* ANCHOR_END: worker */

/*** starting and stopping ***/

/* ANCHOR: start */
/* homes_close: close the eventfds of p's homes that were opened, free them. */
static void homes_close(struct pool *p)
{
	for (unsigned i = 0; i < p->nhomes; i++)
		if (p->homes[i].wake_fd != -1)
			close(p->homes[i].wake_fd);
	free(p->homes);
}

int pool_start(struct pool *p, unsigned workers, size_t queue_cap,
	       unsigned homes, const char **what)
{
	sigset_t all, old;
	int err;

	*p = (struct pool){.queue_cap = queue_cap};
	/* At most half the workers for slow jobs (libuv), and at least one. */
	p->slow_cap = workers / 2 ? workers / 2 : 1;
	p->homes = calloc(homes, sizeof(*p->homes));
	p->workers = calloc(workers, sizeof(*p->workers));
	if (!p->homes || !p->workers) {
		*what = "calloc";
		free(p->homes);
		free(p->workers);
		return -1;
	}
	for (p->nhomes = 0; p->nhomes < homes; p->nhomes++) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd == -1) {
			err = errno;
			homes_close(p);
			free(p->workers);
			*what = "eventfd";
			errno = err;
			return -1;
		}
		p->homes[p->nhomes].wake_fd = fd;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	/*
	 * A new thread starts with its creator's signal mask: block
	 * everything while creating them, so that no signal is ever run on
	 * (or taken from its signalfd by) a worker. (glibc leaves out the
	 * signal pthread_cancel uses itself.)
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->nworkers < workers; p->nworkers++) {
		struct pool_worker *w = &p->workers[p->nworkers];

		w->pool = p;
		err = pthread_create(&w->thread, NULL, worker, w);
		if (err != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nworkers < workers) {
		free(pool_stop(p)); /* nothing has run: no job is done */
		errno = err;
		*what = "pthread_create";
		return -1;
	}
	return 0;
}
/* ANCHOR_END: start */

/* ANCHOR: stop */
struct pool_job *pool_stop(struct pool *p)
{
	struct pool_job *j, *done;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	while ((j = p->head)) { /* never started: nothing to undo */
		p->head = j->next;
		free(j);
	}
	p->tail = NULL;
	p->queued = 0;
	pthread_cond_broadcast(&p->work);
	/*
	 * A worker waiting for work sees stopping and returns. A busy one is
	 * cancelled: blocked in a job's open or read, it leaves at once;
	 * elsewhere in a job, it finishes it (a cancel is acted on only
	 * where the job enabled it), publishes it, sees stopping, and
	 * returns. Under the lock, busy is exact; a cancelled worker's
	 * handlers do not take the lock. Only busy ones: the first
	 * pthread_cancel loads libgcc_s (to unwind the thread's stack),
	 * which a server out of descriptors could not do.
	 */
	for (unsigned i = 0; i < p->nworkers; i++)
		if (p->workers[i].busy)
			pthread_cancel(p->workers[i].thread);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i].thread, NULL);
	/* Every home's done-list, as one list: what is left is to free. */
	done = NULL;
	for (unsigned i = 0; i < p->nhomes; i++) {
		while ((j = p->homes[i].done)) {
			p->homes[i].done = j->next;
			j->next = done;
			done = j;
		}
	}
	free(p->workers);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	homes_close(p);
	*p = (struct pool){0};
	return done;
}
/* ANCHOR_END: stop */
