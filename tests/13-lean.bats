#!/usr/bin/env bats
# Chapter 13: what a connection costs: memory per idle connection (VmRSS
# over 2,000 of them) and the close path (strace: a first read at accept,
# no EPOLL_CTL_DEL, MSG_MORE, a lingering close only when input may be
# unread, a level-triggered listener). Then, as the newest chapter, the
# behaviour of the chapters before: keep-alive, pipelining, backpressure,
# edge-triggering, and every defence, which still hold. After the
# adversarial clients: the server alive, its descriptors back to the
# baseline, and where a spin would show, its CPU idle. Every server here
# must exit 0 on SIGTERM, having freed everything (under ASan,
# LeakSanitizer checks that at exit and turns a leak into ASan's exit
# status, 1): the teardown expects 0.

load helper
load http
load defenses
load keepalive

STOP_STATUS=0

DIR=$TOP/chapters/13-lean
BIN=$DIR/server

# What a connection costs: its memory while idle, and its system calls.

# rss_per_conn BEFORE AFTER N: VmRSS growth (KiB) per connection, in bytes.
rss_per_conn() {
	echo $((($2 - $1) * 1024 / $3))
}

# status_lines_over K: the server has logged more than K status lines.
status_lines_over() {
	[ "$(logged '^status: ')" -gt "$1" ]
}

# status_is LINE: ask for a status line (SIGUSR1), wait for it: is it LINE?
# (wait_for status_is ... asks again until it is.)
status_is() {
	local k
	k=$(logged '^status: ')
	kill -USR1 "$SERVER_PID"
	wait_for 10 status_lines_over "$k" || return 1
	[ "$(grep '^status: ' "$(log_of SERVER)" | tail -n 1)" = "$1" ]
}

# rss_held N [REQUEST]: hold N connections open to a fresh server, each
# having sent REQUEST (in peer's escapes) and been answered, or nothing;
# they must raise its VmRSS by under 512 bytes each.
rss_held() {
	[ -z "${SANITIZED:-}" ] || skip "a sanitizer's allocator says nothing about ours"
	ulimit -n 8192
	server_start "$BIN" -q -t 30 0
	local n=$1 base before after pid per send=()
	[ -z "${2:-}" ] || send=(-s "$2")
	alive_and_served
	base=$(fd_count "$SERVER_PID")
	before=$(vm_rss "$SERVER_PID")
	timeout 30 "$COMMON/peer" -C "$n" -n -t 20000 "${send[@]}" \
		"$SERVER_PORT" 2>/dev/null &
	pid=$!
	wait_for 20 fds_are $((base + n))
	# With a request: every answer sent (they wait unread in the client's
	# socket buffers while the connections stay open).
	[ -z "${2:-}" ] ||
		wait_for 10 status_is "status: $n connections, $((n + 1)) answered"
	after=$(vm_rss "$SERVER_PID")
	kill "$pid"
	wait "$pid" || true
	per=$(rss_per_conn "$before" "$after" "$n")
	diag "VmRSS $before KiB, then $after KiB with $n connections: $per B each"
	[ "$per" -lt 512 ]
	wait_for 10 fds_are "$base"
}

@test "idle connections are cheap: 2,000 that send nothing add under 512 bytes of RSS each" {
	rss_held 2000
}

@test "a kept-alive connection idle after its answer frees its request: 2,000 add under 512 bytes of RSS each" {
	rss_held 2000 'GET / HTTP/1.1\r\n\r\n'
}

# conn_calls TRACE: one line per connection in an strace of accept4,
# sendmsg, shutdown, epoll_ctl and close: the calls on its descriptor from
# its accept4 to its close ("accept4 sendmsg shutdown close"; a sendmsg
# that said MSG_MORE is "sendmsg+MORE").
conn_calls() {
	awk '
		/^accept4\(/ && $NF ~ /^[0-9]+$/ { fd = $NF; calls = "accept4"; next }
		fd == "" { next }
		index($0, "sendmsg(" fd ",") == 1 {
			calls = calls ($0 ~ /MSG_MORE/ ? " sendmsg+MORE" : " sendmsg")
		}
		index($0, "shutdown(" fd ",") == 1 { calls = calls " shutdown" }
		index($0, "EPOLL_CTL_DEL, " fd ",") { calls = calls " DEL" }
		index($0, "close(" fd ")") == 1 { print calls " close"; fd = "" }
	' "$1"
}

@test "strace: a request that said close and sent nothing more is closed at once, its FIN with the answer (MSG_MORE); one that may leave input unread lingers" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	spawn_traced "$trace" -e trace=accept4,sendmsg,shutdown,epoll_ctl,close -- \
		"$BIN" -q -b 5 0
	# Read whole, nothing after it: close(2) alone sends the FIN.
	run -0 --separate-stderr ask 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	whole_response 200
	[[ $stderr == *"closed by server (eof)"* ]]
	# Refused (413) before its body was read: the body may be on its way.
	run -0 --separate-stderr ask 'POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n'
	whole_response 413
	# Another request after the one that said close: the client sends on.
	run -0 --separate-stderr ask 'GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n'
	whole_response 200
	# Kept alive, then the client half-closes: no MSG_MORE on the answer
	# (the server did not know it would close), then a close at once.
	run -0 timeout 20 "$COMMON/peer" -h -s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT"
	[[ ${lines[0]} == "HTTP/1.1 200 OK"* ]]
	stop_traced || return 1
	run -0 conn_calls "$trace"
	printf '%s\n' "${lines[@]}"
	[ "${#lines[@]}" -eq 4 ]
	[ "${lines[0]}" = "accept4 sendmsg+MORE close" ]
	[ "${lines[1]}" = "accept4 sendmsg shutdown close" ]
	[ "${lines[2]}" = "accept4 sendmsg shutdown close" ]
	[ "${lines[3]}" = "accept4 sendmsg close" ]
	# The listener is level-triggered: never re-armed after an accept.
	[ "$(grep -c 'EPOLL_CTL_MOD' "$trace")" -eq 0 ]
}

@test "strace: a paused listener that epoll cannot take back (ENOMEM) stays paused and tries again" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace n start took lfd
	# As in the test above: accept4 fails three times and no spare can be
	# had, so the listener is paused (EPOLL_CTL_DEL, the third epoll_ctl).
	# Then its return (ADD, the fourth and fifth) fails twice: two more
	# rests of 500 ms, then it is back.
	spawn_traced "$trace" -e trace=openat -- "$BIN" -q 0
	stop_traced || return 1
	n=$(grep -c '^openat(' "$trace")
	spawn_traced "$trace" -e trace=listen,accept4,openat,epoll_ctl,epoll_wait \
		-e inject=accept4:error=EMFILE:when=1..3 \
		-e "inject=openat:error=ENFILE:when=$((n + 1))+" \
		-e inject=epoll_ctl:error=ENOMEM:when=4..5 -- "$BIN" -q 0
	start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	took=$(elapsed_since "$start")
	[ "$output" = Hello ]
	stop_traced || return 1
	[[ $(grep -m1 '^listen(' "$trace") =~ ^listen\(([0-9]+), ]]
	lfd=${BASH_REMATCH[1]}
	run -0 grep 'epoll_ctl(.*ENOMEM.*(INJECTED)$' "$trace"
	printf '%s\n' "${lines[@]}"
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == "epoll_ctl("*", EPOLL_CTL_ADD, $lfd, "* ]]
	[[ ${lines[1]} == "epoll_ctl("*", EPOLL_CTL_ADD, $lfd, "* ]]
	[ "$(grep -c '^server: registry_register (listener): Cannot allocate memory$' "$(log_of SERVER)")" -eq 2 ]
	# Three rests, ended by their timeouts; no spin meanwhile.
	[ "$(grep -cE '^epoll_wait\([0-9]+, \[\], [0-9]+, [0-9]+\) += 0$' "$trace")" -ge 3 ]
	seconds_between "$took" 1.4 6
	[ "$(grep -c '^epoll_wait(' "$trace")" -lt 15 ]
}

# The chapters before: keep-alive, pipelining, edge-triggering, the turn
# budget, reading and writing, and the defences.

@test "a bad command line gets a usage line and status 2" {
	check_a_bad_command_line_gets_a_usage
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

@test "strace: edge-triggered, 1,000 pipelined requests cost one ADD, no MOD, and fewer reads than requests" {
	check_strace_edge_triggered_1000_pipelined_requests 1
}

@test "strace: 10,000 pipelined requests are answered at most 64 a turn, with a wait that does not sleep between turns" {
	check_strace_a_turn_answers_at_most_64_requests
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

@test "strace: out of descriptors, the spare is closed, a connection accepted and closed, the spare reopened" {
	check_strace_out_of_descriptors_the_spare_is
}

@test "strace: out of descriptors with no spare to give up, the listener rests 500 ms, then accepts again" {
	check_strace_no_spare_the_listener_rests_then
}

@test "strace: the wait sleeps until the nearest deadline, rounded up, and never spins" {
	check_strace_the_wait_sleeps_until_the_nearest
}

# The parser's own tests, and the chunked decoder's.
#
# common/http_test.c holds the cases, one line each; every case runs at
# every split point with a guard page after the input. Here it is compiled
# against the chapter's http.c (and chunked.c), with the warnings of
# common.mk and, when the suite runs against sanitizer builds (SANITIZED is
# set), with ASan+UBSan.

HTTP_CH=$TOP/chapters/13-lean

@test "the parser gives every request case its answer at every split point" {
	check_the_parser_gives_every_request_case_its
}

@test "the parser reports a wrong answer and exits 1" {
	check_the_parser_reports_a_wrong_answer_and
}

@test "the chunked decoder gives every case its answer at every split point" {
	check_the_chunked_decoder_gives_every_case_its
}
