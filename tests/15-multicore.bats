#!/usr/bin/env bats
# Chapter 15: one event loop per core. -L loops, each a thread pinned to a
# CPU with its own epoll set, timers, connections and slab, sharing the
# port in one of three ways (-m): a listening socket each with
# SO_REUSEPORT, or one socket in every loop's epoll set with
# EPOLLEXCLUSIVE, or without it (the thundering herd). Per-loop counters
# (accepted, wakeups, wasted, requests) on SIGUSR1 and at exit. Every
# server here runs 2 loops at most: the CI machine has 2 cores. Then, as
# the newest chapter, every test of chapter 14 (and of those before it)
# against the default: one loop per CPU the process may use (2 on such a
# machine), reuseport. Every server must exit 0 on SIGTERM, having joined
# its loops and its workers and freed everything. Left out: chapter 14's
# strace tests that trace one thread (without -f) or count the setup's
# epoll_ctl and eventfd2 calls: here the loops are other threads, and the
# setup has a stop eventfd and a pool eventfd per loop. The test of 100
# clients under a limit of 64 descriptors is in: the loops share one table
# of descriptors, and the accepts its lock (listener.c's table).

load helper
load http
load defenses
load keepalive
load lean
load threads
load drain
load multicore

STOP_STATUS=0

DIR=$TOP/chapters/15-multicore
BIN=$DIR/server

# One loop per core: the listeners, the threads, the herd counted, a
# connection kept by its loop, the stop that joins them all.

@test "a bad command line gets a usage line naming -L and -m, and status 2" {
	check_usage_names_loops_and_modes
}

@test "ss: reuseport has a listening socket per loop (2), exclusive and shared one" {
	check_ss_shows_a_listener_per_loop_with_reuseport
}

@test "/proc/PID/task: main, one thread per loop (loop0, loop1), and the pool's workers" {
	check_a_thread_per_loop_and_the_pool
}

@test "1,000 connections one after another: each accepted once; reuseport wastes no wakeup, shared some" {
	check_1000_connections_the_herd_counted
}

@test "a pipelined connection is answered by one loop, in each mode" {
	check_a_pipelined_connection_is_answered_by_one_loop
}

@test "SIGTERM with connections on both loops: every loop joined, its counters printed, exit 0" {
	check_sigterm_joins_every_loop
}

@test "strace -f: in shared mode each wakeup counted is an accept4, each wasted one an accept4 that found nothing (EAGAIN)" {
	check_strace_f_the_herd_counters_are_the_calls
}

@test "strace -f: exclusive mode registers the listener in each loop's epoll with EPOLLEXCLUSIVE, no EPOLLRDHUP; the loops accept" {
	check_strace_f_exclusive_listener_in_every_loop
}

# Blocking work on a pool of threads: files, lookups, the bounded queue,
# the waker, a client gone mid-job, the stop with a worker blocked.

@test "GET /files/NAME serves the file from -d DIR; without -d, or a name it lacks, 404" {
	check_files_serves_a_file_and_404_without_it
}

@test "names that would leave the directory are refused: .., /, a symbolic link, a directory" {
	check_names_that_escape_the_directory_are_refused
}

@test "a FIFO's read blocks the only worker, and GET / is answered meanwhile; the writer's close completes the answer" {
	check_a_blocked_read_leaves_the_loop_free
}

@test "N+2 blocked reads with N workers and a queue of 1: one 503 at once, with Retry-After" {
	check_a_full_queue_answers_503_at_once
}

@test "a 20 MB file is served byte-exact, twice over one kept-alive connection" {
	check_a_20_mb_file_byte_exact_over_keep_alive
}

@test "GET /lookup/localhost answers 127.0.0.1" {
	check_lookup_localhost_answers_127_0_0_1
}

@test "lookups take at most half the workers: two blocked in getaddrinfo (/etc/hosts a FIFO) leave a worker for a file" {
	check_lookups_take_at_most_half_the_workers
}

@test "a client whose deadline passes while its job runs: the answer is dropped, descriptors back to the baseline" {
	check_a_client_gone_mid_job_leaves_nothing
}

@test "a client that closes while its job runs is closed once the job ends: descriptors back to the baseline" {
	check_a_client_that_closes_mid_job_is_closed
}

@test "a client that resets while its job runs: the answer is dropped when the job ends, descriptors back to the baseline" {
	check_a_client_that_resets_mid_job_is_closed
}

@test "SIGTERM with a worker blocked and a job queued: exit 0, nothing leaked" {
	check_sigterm_with_a_blocked_worker_exits_0
}

# What a connection costs: its memory while idle, and its system calls.

@test "idle connections are cheap: 2,000 that send nothing add under 512 bytes of RSS each" {
	check_idle_connections_are_cheap
}

@test "a kept-alive connection idle after its answer frees its request: 2,000 add under 512 bytes of RSS each" {
	check_a_kept_alive_idle_connection_frees_its_request
}

# The chapters before: keep-alive, pipelining, edge-triggering, the turn
# budget, reading and writing, and the defences.

@test "keep-alive: curl's three requests share one connection" {
	check_keep_alive_curls_three_requests_share_one
}

@test "10,000 pipelined requests on one connection are all answered" {
	check_10000_pipelined_requests_on_one_connection
}

@test "100 pipelined requests in one write are answered in order" {
	check_100_pipelined_requests_in_one_write
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

@test "a client that resets mid-request, or leaves mid-body, is closed and the next one served" {
	check_a_client_that_resets_mid_request_or
}

@test "an upload with Expect: 100-continue gets 100 Continue, and over -b a 413 instead" {
	check_an_upload_with_expect_100_continue_gets
}

@test "-q silences every per-request line" {
	check_q_silences_every_per_request_line
}

# Carried from chapter 14 with the Host rules and batched sends.

@test "GET / and a FIFO's GET pipelined in one write: Hello is answered at once, the file once the writer closes" {
	check_an_answer_before_a_job_does_not_wait_for_it
}

@test "Host: an HTTP/1.1 request without it, any with two, or with an invalid one gets 400 and the close; HTTP/1.0 may leave it out" {
	check_host_missing_twice_or_invalid_gets_400
}

@test "an absolute-form target (http://host/path) is served by its path, whatever Host says" {
	check_an_absolute_form_target_is_served_by_its
}

@test "Transfer-Encoding whose last coding is not chunked gets 400 and the close; another coding before chunked, 501" {
	check_transfer_encoding_not_ending_in_chunked
}

@test "a connection that pipelines while reading slowly still gets every answer" {
	check_a_slow_reader_that_pipelines_gets_every_answer
}

@test "fairness: an ordinary request is answered promptly while 150 pipelined slow readers ask for 1 MB each" {
	check_an_ordinary_request_is_answered_among_slow_readers
}

# SIGQUIT, the draining stop, carried from chapter 14: every loop drains
# its own connections; main prints one report for them all. Left out: the
# test that counts the descriptors the drain gives back (one listener and
# its spare), which with a listener, a spare and an epoll set per loop
# counts differently.

@test "SIGQUIT with a worker blocked on a FIFO: the idle client closes, the job's answer completes once the writer closes, exit 0" {
	check_sigquit_waits_for_a_blocked_worker
}

@test "SIGQUIT: an 8 MB download and 20 pipelined requests finish byte-exact; exit 0" {
	check_sigquit_lets_a_download_and_20_pipelined_requests_finish
}

@test "SIGQUIT: an 8 MB download and 20 connections mid-request finish byte-exact; exit 0" {
	check_sigquit_lets_a_download_and_20_requests_mid_way_finish
}

@test "SIGQUIT: the drain lasts at most -t; what is left is closed, exit 0" {
	check_the_drain_lasts_at_most_t
}

@test "SIGQUIT: SIGTERM or a second SIGQUIT during the drain stops at once, exit 0" {
	check_sigterm_during_a_drain_stops_fast
}

# The parser's own tests, and the chunked decoder's.
#
# common/http_test.c holds the cases, one line each; every case runs at
# every split point with a guard page after the input. Here it is compiled
# against the chapter's http.c (and chunked.c), with the warnings of
# common.mk and, when the suite runs against sanitizer builds (SANITIZED is
# set), with ASan+UBSan.

HTTP_CH=$TOP/chapters/15-multicore

@test "the parser gives every request case its answer at every split point" {
	check_the_parser_gives_every_request_case_its
}

@test "the parser reports a wrong answer and exits 1" {
	check_the_parser_reports_a_wrong_answer_and
}

@test "the chunked decoder gives every case its answer at every split point" {
	check_the_chunked_decoder_gives_every_case_its
}
