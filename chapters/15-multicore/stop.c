/*
 * stop.c - SIGINT, SIGTERM and SIGQUIT read from a signalfd; see stop.h.
 */
/* sigprocmask(2) under -std=c11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "stop.h"

/* ANCHOR: signalfd */
/*
 * stop_open: a blocked signal stays pending instead of running a handler
 * or its default action (ending the process), and signalfd(2) makes the
 * pending ones readable, one struct signalfd_siginfo each. (A program
 * with threads would have to block them in every thread; this one has
 * one.)
 */
int stop_open(const char **what)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1) {
		*what = "sigprocmask";
		return -1;
	}
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		*what = "signalfd";
	return fd;
}

int stop_read(int fd)
{
	struct signalfd_siginfo si;
	int stop = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break; /* EAGAIN: none left (it never returns less) */
		/* A fast stop read with a SIGQUIT wins (stop.h). */
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM ||
		    (si.ssi_signo == SIGQUIT && stop == 0))
			stop = (int)si.ssi_signo;
	}
	if (n == -1 && errno != EAGAIN)
		return -1;
	return stop;
}
/* ANCHOR_END: signalfd */
