/*
 * stop.h - SIGINT, SIGTERM and SIGQUIT as a descriptor the event loop
 * watches.
 *
 * The usual way to stop a server is a handler that sets a flag, which the
 * loop tests before each wait. Between the test and the wait is a window:
 * a signal that arrives there runs the handler, the loop goes to sleep
 * anyway, and the stop waits for the next event, which may never come.
 * Here the stop signals are blocked instead, so they stay pending, and a
 * signalfd(2) makes the pending ones readable. In the epoll set, "stop" is
 * one more event, handled in its turn like a socket's: no handler, no
 * flag, no window.
 *
 * Like poll.h, nothing here prints or exits.
 */
#ifndef STOP_H
#define STOP_H

/*
 * stop_open: block SIGINT, SIGTERM and SIGQUIT, and return a non-blocking
 * signalfd that reads them, or -1 with errno set and *what naming the call that
 * failed. Register it (edge-triggered is enough: stop_read reads it dry).
 */
int stop_open(const char **what);

/*
 * stop_read: the signalfd is readable: read every pending signal. Returns
 * the stop signal read: SIGINT or SIGTERM (a fast stop; the last one read)
 * if there was one, else SIGQUIT (a draining stop) if there was that, 0 if
 * none, or -1 with errno set.
 */
int stop_read(int fd);

#endif
