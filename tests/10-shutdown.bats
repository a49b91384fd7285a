#!/usr/bin/env bats
# Chapter 10: the edges of a server's life. A lingering close, so that an
# answer sent early reaches a client that is still sending; a spare
# descriptor and a listener that pauses, for when descriptors run out or
# epoll_ctl fails; SIGTERM and SIGINT through a signalfd. Every server here
# must exit 0 on SIGTERM, having freed everything (under ASan,
# LeakSanitizer checks that at exit and turns a leak into ASan's exit
# status, 1): the teardown expects 0.

load helper
load http
load defenses
load drain

STOP_STATUS=0

DIR=$TOP/chapters/10-shutdown
BIN=$DIR/server

@test "a 10 MB POST over -b is answered 413, and the answer arrives whole (lingering close)" {
	check_a_10_mb_post_over_b_is
}

@test "a request refused at its head while 10 MB of body follow: the 400 arrives whole" {
	check_a_request_refused_at_its_head_while
}

@test "a request followed by a half-close is answered and closed at once" {
	check_a_request_followed_by_a_half_close
}

@test "a lingering close lasts at most -t for a client that never closes" {
	check_a_lingering_close_lasts_at_most_t
}

@test "out of descriptors (prlimit 64, 100 clients): no spin, no stall, served again after" {
	check_out_of_descriptors_prlimit_64_100_clients
}

@test "strace: out of descriptors, the spare is closed, a connection accepted and closed, the spare reopened" {
	check_strace_out_of_descriptors_the_spare_is
}

@test "strace: out of descriptors with no spare to give up, the listener rests 500 ms, then accepts again" {
	check_strace_no_spare_the_listener_rests_then
}

@test "strace: a listener that cannot be re-armed (ENOMEM) rests 500 ms and tries again, until it can" {
	check_strace_a_listener_that_cannot_be_re_armed
}

@test "SIGTERM with connections open: exit 0, every connection closed, nothing leaked" {
	check_sigterm_with_connections_open_exit_0_every
}

@test "SIGINT (Ctrl-C) exits 0 the same way" {
	check_sigint_ctrl_c_exits_0_the_same
}

@test "a leak at exit would fail these tests (LeakSanitizer or valgrind)" {
	check_a_leak_at_exit_would_fail_these
}

@test "valgrind: requests, then SIGTERM: exit 0 with no error and no leak" {
	check_valgrind_requests_then_sigterm_exit_0_with
}

# SIGQUIT, the draining stop (tests/drain.bash).

@test "SIGQUIT: an 8 MB download and 20 connections mid-request finish byte-exact; exit 0" {
	check_sigquit_lets_a_download_and_20_requests_mid_way_finish
}

@test "SIGQUIT: the listener and idle connections close at once; a request mid-way is answered" {
	check_sigquit_closes_the_listener_and_idle_connections
}

@test "SIGQUIT: the drain lasts at most -t; what is left is closed, exit 0" {
	check_the_drain_lasts_at_most_t
}

@test "SIGQUIT: SIGTERM or a second SIGQUIT during the drain stops at once, exit 0" {
	check_sigterm_during_a_drain_stops_fast
}

# RFC 9112: Host, absolute-form targets, the final transfer coding (#10).

@test "Host: an HTTP/1.1 request without it, any with two, or with an invalid one gets 400 and the close; HTTP/1.0 may leave it out" {
	check_host_missing_twice_or_invalid_gets_400
}

@test "an absolute-form target (http://host/path) is served by its path, whatever Host says" {
	check_an_absolute_form_target_is_served_by_its
}

@test "Transfer-Encoding whose last coding is not chunked gets 400 and the close; another coding before chunked, 501" {
	check_transfer_encoding_not_ending_in_chunked
}
