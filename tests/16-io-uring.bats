#!/usr/bin/env bats
# Chapter 16: the server of 13-lean on io_uring. Its own checks first: the
# hand-declared ABI against the kernel's header, the system calls it no
# longer makes (strace -c: no epoll, recv or send; a few io_uring_enter
# for thousands of requests), the ring at rest after load, the shared
# buffer ring running dry, and connections closed with requests still in
# the kernel. Then 13-lean's behaviour suite, which still holds, its
# draining stop (SIGQUIT) and RFC 9112's Host rules included. Where
# this machine cannot set up an io_uring (an old kernel, the sysctl
# kernel.io_uring_disabled, a container's seccomp filter), every test is
# skipped, with the server's one line saying why.
#
# Not run here, from 13-lean's suite (they check epoll's own calls):
#   the close path and the paused listener under strace (epoll_ctl,
#   sendmsg with MSG_MORE, EPOLL_CTL_ADD refused): 16 makes neither call;
#   edge-triggering and the per-turn budget under strace (epoll_ctl,
#   recvfrom, epoll_wait): there is no readiness to trigger, and a turn is
#   at most 64 completions (server.c's CQE_BATCH);
#   the spare descriptor and the resting listener under strace (accept4
#   failing with EMFILE, epoll_wait's timeouts): the accept is the ring's,
#   invisible to strace; "out of descriptors (prlimit 64, 100 clients)"
#   below checks the same behaviour from outside;
#   the wait's timeout under strace (epoll_wait's last argument): the
#   deadline is inside io_uring_enter's argument, which strace does not
#   decode;
#   the pipelined burst answered in a few sends under strace (sendmsg):
#   16's sends are the ring's, invisible to strace; its own version below
#   counts the log's turns instead;
#   TCP_NODELAY under strace, which keys on accept4: the accept is the
#   ring's; 16 sets TCP_NODELAY at accept (conn_add), and strace -c shows
#   one setsockopt per connection;
#   at most 64 KiB a turn to one connection under strace (sendmsg between
#   epoll_waits): a connection has one sendmsg in flight, of at most one
#   64 KiB piece of a body (and the held answers, 16 KiB at most);
#   "a bad command line gets a usage line": 16's usage line has -r;
#   "a client that resets mid-request", which expects the client's address
#   in the log: a multishot accept gives none, and getpeername(2) on a
#   connection already reset says ENOTCONN (the line says 0.0.0.0:0);
#   the same behaviour without the address is checked below.

load helper
load http
load defenses
load keepalive
load drain
load lean
load uring

STOP_STATUS=0

DIR=$TOP/chapters/16-io-uring
BIN=$DIR/server

# Probe once: a machine without io_uring skips every test, with one line.
setup_file() {
	local why
	if why=$(uring_probe); then
		export URING_SKIP=
	else
		export URING_SKIP="io_uring is not available here: $why"
	fi
}

setup() {
	[ -z "${URING_SKIP:-}" ] || skip "$URING_SKIP"
}

# What io_uring changes.

@test "uring_ffi.h agrees with <linux/io_uring.h>, field by field, and the check can fail" {
	check_uring_ffi_agrees_with_the_kernel_header
}

@test "a bad command line gets a usage line, with -r BUFFERS, and status 2" {
	check_uring_usage
}

@test "strace -f -c: 10,000 keep-alive requests make no epoll, recv or send call, and at most 0.3 io_uring_enter each" {
	check_strace_uring_no_epoll_recv_send
}

@test "after load the ring is at rest: SqHead == SqTail, CqHead == CqTail, no CQ overflow" {
	check_the_ring_is_at_rest_after_load
}

@test "a buffer ring of 8 shared by 200 pipelining clients runs dry (-ENOBUFS) and still serves everyone" {
	check_a_tiny_buffer_ring_still_serves_everyone
}

@test "1,000 clients reset mid-answer: requests cancelled, every slot freed, descriptors at the baseline" {
	check_1000_resets_cancel_and_free_every_slot
}

@test "1,000 connections reset as soon as they connect: every slot and descriptor given back" {
	check_1000_connections_reset_at_connect
}

@test "a send stuck on a client that stopped reading is cancelled at -t, and its slot freed" {
	check_a_stuck_send_is_cancelled_at_the_deadline
}

@test "one thread, no SQ thread: the receives, sends and accepts need no worker" {
	check_the_server_is_one_thread_with_no_sq_thread
}

@test "a pipelined burst of 64 requests in one write is answered in a few sends (the log's turns), in order, byte-exact" {
	check_uring_a_burst_of_64_in_a_few_sends
}

@test "a client that resets mid-request, or leaves mid-body, is closed and the next one served" {
	check_uring_a_client_resets_mid_request
}

# What a connection costs: its memory while idle, and its system calls.

@test "idle connections are cheap: 2,000 that send nothing add under 512 bytes of RSS each" {
	check_idle_connections_are_cheap
}

@test "a kept-alive connection idle after its answer frees its request: 2,000 add under 512 bytes of RSS each" {
	check_a_kept_alive_idle_connection_frees_its_request
}

# The chapters before: keep-alive, pipelining, reading and writing, and
# the defences.

@test "keep-alive: curl's three requests share one connection" {
	check_keep_alive_curls_three_requests_share_one
}

@test "100 pipelined requests in one write are answered in order" {
	check_100_pipelined_requests_in_one_write
}

@test "10,000 pipelined requests on one connection are all answered" {
	check_10000_pipelined_requests_on_one_connection
}

@test "HTTP/1.0 closes unless it asks for keep-alive, and is told so" {
	check_http_1_0_closes_unless_it_asks
}

@test "Connection: close is answered with Connection: close, and nothing after it" {
	check_connection_close_is_answered_with_close
}

@test "backpressure: 100,000 pipelined requests from a client that never reads leave memory bounded" {
	check_backpressure_100000_pipelined_requests
}

@test "2,000 concurrent keep-alive connections are served and held open" {
	check_2000_concurrent_keep_alive_connections
}

@test "an idle keep-alive connection is closed -t after its last answer" {
	check_an_idle_keep_alive_connection_is_closed
}

@test "a request and its FIN in one event: the end of stream is still read" {
	check_a_request_and_its_fin_in_one_event
}

@test "Connection: close, its body's last read filled exactly, more bytes behind it: the answer lingers, whole" {
	check_connection_close_body_filled_exactly
}

@test "routes: GET /, GET /bytes/N, POST /echo, 404, and 405 with Allow" {
	check_routes_get_get_bytes_n_post_echo keep-alive
}

@test "HEAD gets the head GET would get, Content-Length included, and no body" {
	check_head_gets_the_head_get_would_get 'Connection: close\r\n'
}

@test "a head that arrives one byte at a time is answered" {
	check_a_head_that_arrives_one_byte_at 'Connection: close\r\n'
}

@test "a 10 MB upload is read whole, far more than 4 KB per wakeup" {
	check_a_10_mb_upload_is_read_whole -b 20000000
}

@test "1000 SIGUSR1 during a large upload: the body is read whole" {
	check_1000_sigusr1_during_a_large_upload -b 20000000
}

@test "a request and its FIN in one read are answered" {
	check_a_request_and_its_fin_in_one_read
}

@test "bytes that come while the answer is sent are read before the close: the slow reader gets it all, then a FIN" {
	check_bytes_that_come_while_the_answer_is_sent 'Connection: close\r\n'
}

@test "a 10 MB POST /echo under -b comes back byte for byte, read far more than 4 KB per wakeup" {
	check_a_10_mb_post_echo_under_b
}

@test "limits: a head over 8 KiB gets 431 (a request line alone, 414), one just under is served" {
	check_limits_a_head_over_8_kib_gets 1.0
}

@test "limits: each bad Content-Length or Transfer-Encoding gets its status, whole" {
	check_limits_each_bad_content_length_or_transfer
}

@test "chunked bodies are decoded, up to -b bytes exactly" {
	check_chunked_bodies_are_decoded_up_to_b 'Connection: close\r\n'
}

@test "a 10 MB POST over -b is answered 413, and the answer arrives whole (lingering close)" {
	check_a_10_mb_post_over_b_is
}

@test "a request refused at its head while 10 MB of body follow: the 400 arrives whole" {
	check_a_request_refused_at_its_head_while
}

@test "slowloris: one byte every 500 ms is cut off at the 5 s request deadline" {
	check_slowloris_one_byte_every_500_ms_is
}

@test "a slow body after a fast head is cut off at the same request deadline" {
	check_a_slow_body_after_a_fast_head
}

@test "an idle connection is closed after -t, and the server idles meanwhile" {
	check_an_idle_connection_is_closed_after_t
}

@test "a reader that stops reading is closed after -t without progress" {
	check_a_reader_that_stops_reading_is_closed
}

@test "a slow but live reader of 50 MB outlasts -t: progress extends the write deadline" {
	check_50_mb_reach_a_slow_reader 2 'Connection: close\r\n' -t 2
}

@test "a lingering close lasts at most -t for a client that never closes" {
	check_a_lingering_close_lasts_at_most_t
}

@test "out of descriptors (prlimit 64, 100 clients): no spin, no stall, served again after" {
	check_out_of_descriptors_prlimit_64_100_clients
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

@test "1000 clients that reset mid-response leave the server alive, idle, and at its baseline" {
	check_1000_clients_that_reset_mid_response_leave
}

@test "1000 SIGUSR1 during a large transfer: the body arrives intact" {
	check_1000_sigusr1_during_a_large_transfer_the
}

@test "a request followed by a half-close is answered and closed at once" {
	check_a_request_followed_by_a_half_close
}

@test "an upload with Expect: 100-continue gets 100 Continue, and over -b a 413 instead" {
	check_an_upload_with_expect_100_continue_gets
}

@test "-q silences every per-request line" {
	check_q_silences_every_per_request_line
}

# The parser's own tests, and the chunked decoder's.
#
# common/http_test.c holds the cases, one line each; every case runs at
# every split point with a guard page after the input. Here it is compiled
# against the chapter's http.c (and chunked.c), with the warnings of
# common.mk and, when the suite runs against sanitizer builds (SANITIZED is
# set), with ASan+UBSan.

HTTP_CH=$TOP/chapters/16-io-uring

@test "the parser gives every request case its answer at every split point" {
	check_the_parser_gives_every_request_case_its
}

@test "the parser reports a wrong answer and exits 1" {
	check_the_parser_reports_a_wrong_answer_and
}

@test "the chunked decoder gives every case its answer at every split point" {
	check_the_chunked_decoder_gives_every_case_its
}

# SIGQUIT, the draining stop (tests/drain.bash).

@test "SIGQUIT: an 8 MB download and 20 pipelined requests finish byte-exact; exit 0" {
	check_sigquit_lets_a_download_and_20_pipelined_requests_finish
}

@test "SIGQUIT: an 8 MB download and 20 connections mid-request finish byte-exact; exit 0" {
	check_sigquit_lets_a_download_and_20_requests_mid_way_finish
}

@test "SIGQUIT: the listener and idle connections, kept-alive ones too, close at once; a request mid-way is answered" {
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

# Pipelining: answers gathered into one send, slow readers (#9).

@test "a connection that pipelines while reading slowly still gets every answer" {
	check_a_slow_reader_that_pipelines_gets_every_answer
}

@test "fairness: an ordinary request is answered promptly while 150 pipelined slow readers ask for 1 MB each" {
	check_an_ordinary_request_is_answered_among_slow_readers
}
