#!/usr/bin/env bats
# Chapter 12: edge-triggered connections, registered once, with readiness
# flags and a budget per turn: strace shows one ADD per connection and no
# MOD, and a pipelining client answered at most 64 requests a turn. Then
# chapter 11's keep-alive tests, which the new state machine must pass as
# they are, and the listener that cannot be re-armed (the one-shot
# listener's newest chapter). Every server here must exit 0 on SIGTERM,
# having freed everything: the teardown expects 0.

load helper
load http
load defenses
load keepalive
load drain

STOP_STATUS=0

DIR=$TOP/chapters/12-edge
BIN=$DIR/server

@test "strace: edge-triggered, 1,000 pipelined requests cost one ADD, no MOD, and fewer reads than requests" {
	check_strace_edge_triggered_1000_pipelined_requests 2
}

@test "strace: 10,000 pipelined requests are answered at most 64 a turn, with a wait that does not sleep between turns" {
	check_strace_a_turn_answers_at_most_64_requests
}

@test "strace: a listener that cannot be re-armed (ENOMEM) rests 500 ms and tries again, until it can" {
	check_strace_a_listener_that_cannot_be_re_armed
}

@test "routes: GET /, GET /bytes/N, POST /echo, 404, and 405 with Allow" {
	check_routes_get_get_bytes_n_post_echo keep-alive
}

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

@test "strace: a pipelined burst of 64 requests in one write is answered in a few sends, in order, byte-exact" {
	check_strace_a_burst_of_64_in_a_few_sends
}

@test "a connection that pipelines while reading slowly still gets every answer" {
	check_a_slow_reader_that_pipelines_gets_every_answer
}

@test "strace: TCP_NODELAY is set on every accepted socket" {
	check_strace_tcp_nodelay_on_every_accepted_socket first
}

@test "fairness: an ordinary request is answered promptly while 150 pipelined slow readers ask for 1 MB each" {
	check_an_ordinary_request_is_answered_among_slow_readers
}

@test "strace: a turn sends at most 64 KiB to one connection: an 8 MB download goes out in many turns" {
	check_strace_a_turn_sends_at_most_64_kib_to_one_connection
}
