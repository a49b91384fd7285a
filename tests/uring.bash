# tests/uring.bash: the io_uring server's own checks (chapter 16 on): its
# hand-declared ABI, the system calls it makes and does not make, the
# ring's state after load, the shared buffer ring running dry, and
# connections closed with requests still in the kernel. Load it after
# helper, http and lean; the suite sets BIN and DIR.

# uring_probe: can this machine set up an io_uring? Prints nothing and
# succeeds if so; otherwise prints the server's one line and fails. A
# server that works runs until the timeout (124); one that cannot set up
# its ring says why and exits 1 at once.
uring_probe() {
	local out status=0
	out=$(timeout 1 "$BIN" -q 0 2>&1 >/dev/null) || status=$?
	[ "$status" -eq 124 ] && return 0
	echo "${out:-the server exited $status}"
	return 1
}

# uring_status_lines: ask for the status lines; prints the last "ring:" one.
uring_ring_line() {
	local k
	k=$(logged '^ring: ')
	kill -USR1 "$SERVER_PID"
	wait_for 10 status_lines_over "$k" || return 1
	wait_for 10 ring_lines_over "$k" || return 1
	grep '^ring: ' "$(log_of SERVER)" | tail -n 1
}

ring_lines_over() {
	[ "$(logged '^ring: ')" -gt "$1" ]
}

# ring_fd_info: the /proc fdinfo of the server's io_uring descriptor.
ring_fd_info() {
	local fd
	for fd in /proc/"$SERVER_PID"/fd/*; do
		if [ "$(readlink "$fd")" = "anon_inode:[io_uring]" ]; then
			cat "/proc/$SERVER_PID/fdinfo/${fd##*/}"
			return 0
		fi
	done
	echo "no io_uring descriptor in /proc/$SERVER_PID/fd"
	return 1
}

# fdinfo_field NAME: one field of ring_fd_info's output ($output).
fdinfo_field() {
	sed -n "s/^$1:[[:space:]]*//p" <<<"$output"
}

# uring_check_build [DIR]: common/uring_check.c compiled against
# DIR/uring_ffi.h (default: the chapter's), into $BATS_TEST_TMPDIR.
uring_check_build() {
	cc -std=c11 -Wall -Wextra -Werror -I "${1:-$DIR}" \
		"$COMMON/uring_check.c" -o "$BATS_TEST_TMPDIR/uring_check"
}

# uring_ffi.h agrees with <linux/io_uring.h>, field by field, and the check can fail
check_uring_ffi_agrees_with_the_kernel_header() {
	[ -f /usr/include/linux/io_uring.h ] || skip "no <linux/io_uring.h> (linux-libc-dev)"
	uring_check_build
	run -0 "$BATS_TEST_TMPDIR/uring_check"
	[ "${#lines[@]}" -gt 100 ]
	[[ $output != *DIFFERENT* ]]
	# A wrong offset (off and addr swapped) and a wrong opcode are caught.
	local bad=$BATS_TEST_TMPDIR/bad
	mkdir -p "$bad"
	sed -e 's/^\tuint64_t off;/\tuint64_t off_;/' \
		-e 's/^\tuint64_t addr;\t/\tuint64_t off;\t/' \
		-e 's/^\tuint64_t off_;/\tuint64_t addr;/' \
		-e 's/^#define URING_OP_RECV\t      27/#define URING_OP_RECV\t      28/' \
		"$DIR/uring_ffi.h" >"$bad/uring_ffi.h"
	! cmp -s "$DIR/uring_ffi.h" "$bad/uring_ffi.h"
	uring_check_build "$bad"
	run -1 "$BATS_TEST_TMPDIR/uring_check"
	[[ $output == *"offsetof(s, off)"*DIFFERENT* ]]
	[[ $output == *"URING_OP_RECV "*DIFFERENT* ]]
}

# a bad command line gets 16's usage line (-r BUFFERS, a power of two) and status 2
check_uring_usage() {
	refuses_with_usage "usage: server [-q] [-t SECONDS] [-b BYTES] [-r BUFFERS] [PORT]" \
		-x abc 65536 "8000 9000" "-t 0" "-t 86401" "-b 1k" \
		"-r 0" "-r 3" "-r 65536" "-r x" -r
}

# strace -f -c: 10,000 keep-alive requests on 200 connections make no
# epoll, recv or send call, and at most 0.3 io_uring_enter per request
check_strace_uring_no_epoll_recv_send() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace n=10000 enters bad
	spawn_traced "$trace" -f -c -- "$BIN" -q 0
	# 200 connections, each 50 requests in one write, closed by the
	# client once all 50 answers are in.
	run -0 --separate-stderr timeout 30 "$COMMON/peer" -q -C 200 -x 50 \
		-e $((50 * ${#HELLO_KEPT})) -t 25000 \
		-s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT"
	[[ $stderr == *"200 connections, "*"200 closed by us after "* ]]
	stop_traced || return 1
	cat "$trace"
	bad=$(grep -cE ' (epoll_[a-z0-9_]+|recv|recvfrom|recvmsg|send|sendto|sendmsg|accept4?)$' "$trace" || true)
	[ "$bad" -eq 0 ]
	enters=$(awk '$NF == "io_uring_enter" { print $4 }' "$trace")
	[ -n "$enters" ]
	diag "io_uring_enter: $enters calls for $n requests"
	[ $((enters * 10)) -le $((n * 3)) ]
}

# after load, the ring is at rest: the kernel took every SQE (SqHead ==
# SqTail), we read every CQE, and nothing waits in the overflow list
check_the_ring_is_at_rest_after_load() {
	server_start "$BIN" -q 0
	run -0 --separate-stderr timeout 30 "$COMMON/peer" -q -C 200 -x 50 \
		-e $((50 * ${#HELLO_KEPT})) -t 25000 \
		-s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT"
	[[ $stderr == *"200 closed by us after "* ]]
	wait_for 10 status_is "status: 0 connections, 10000 answered"
	run -0 ring_fd_info
	echo "$output"
	[ -n "$(fdinfo_field SqHead)" ]
	[ "$(fdinfo_field SqHead)" = "$(fdinfo_field SqTail)" ]
	[ "$(fdinfo_field CqHead)" = "$(fdinfo_field CqTail)" ]
	# The overflow list is the lines after its title, up to the next title.
	[ -z "$(sed -n '/^CqOverflowList:/,/^[A-Za-z]/{/^[[:space:]]/p}' <<<"$output")" ]
	run -0 uring_ring_line
	[[ $output == *", 0 CQ overflows" ]]
}

# a buffer ring of 8 shared by 200 pipelining clients runs dry (-ENOBUFS)
# and is re-armed: every client is answered in full
check_a_tiny_buffer_ring_still_serves_everyone() {
	server_start "$BIN" -q -r 8 0
	local per=$((20 * ${#HELLO_KEPT}))
	run -0 --separate-stderr timeout 30 "$COMMON/peer" -q -C 200 -x 20 \
		-e "$per" -t 25000 -s 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT"
	[[ $stderr == *"received $((200 * per)) bytes, 200 closed by us after "* ]]
	wait_for 10 status_is "status: 0 connections, 4000 answered"
	run -0 uring_ring_line
	echo "$output"
	[[ $output =~ ^ring:\ ([0-9]+)\ receives\ out\ of\ buffers ]]
	[ "${BASH_REMATCH[1]}" -gt 0 ]
}

# 1,000 clients reset mid-answer (a send in flight, a receive armed):
# every request is cancelled, every slot freed after its last
# completion, and no completion is acted on after its connection is gone
check_1000_resets_cancel_and_free_every_slot() {
	server_start "$BIN" -q 0
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 60 "$COMMON/peer" -C 1000 -R 10000 -q \
		-t 30000 -s 'GET /bytes/4000000 HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT"
	[[ $stderr == *"1000 reset by us after "* ]]
	wait_for 10 fds_are "$base"
	# Every context and slot freed: the slab is empty.
	wait_for 10 status_is "status: 0 connections, 0 answered"
	assert_idle "$SERVER_PID"
	alive_and_served
	run -0 uring_ring_line
	echo "$output"
	[[ $output == *", 0 CQ overflows" ]]
}

# 1,000 connections reset as soon as they connect: each accept's receive
# ends in ECONNRESET (or finds the reset first), and every slot and
# descriptor is given back
check_1000_connections_reset_at_connect() {
	server_start "$BIN" -q 0
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 60 "$COMMON/peer" -C 1000 -S 0 -q \
		-t 30000 "$SERVER_PORT"
	[[ $stderr == *"1000 reset by us after "* ]]
	wait_for 10 fds_are "$base"
	wait_for 10 status_is "status: 0 connections, 0 answered"
	assert_idle "$SERVER_PID"
	alive_and_served
}

# a reader that stops reading: its sendmsg waits in the kernel; at -t the
# connection is closed, the send cancelled, and the slot freed
check_a_stuck_send_is_cancelled_at_the_deadline() {
	server_start "$BIN" -q -t 1 0
	local base pid
	base=$(fd_count "$SERVER_PID")
	timeout 20 "$COMMON/peer" -n -t 6000 \
		-s 'GET /bytes/50000000 HTTP/1.1\r\nHost: x\r\n\r\n' "$SERVER_PORT" 2>/dev/null &
	pid=$!
	wait_for 10 fds_are $((base + 1))
	wait_for 10 fds_are "$base"
	# Closed while the client still holds its end: the server let go.
	kill -0 "$pid"
	wait_for 10 status_is "status: 0 connections, 0 answered"
	kill "$pid"
	wait "$pid" || true
}

# SINGLE_ISSUER and DEFER_TASKRUN are asked for: the ring's fdinfo shows
# no SQ thread, and the server runs with one thread only
check_the_server_is_one_thread_with_no_sq_thread() {
	server_start "$BIN" -q 0
	alive_and_served
	run -0 ring_fd_info
	[ "$(fdinfo_field SqThread)" = -1 ]
	# io_uring's workers (iou-wrk) are threads of the process when used;
	# a receive, a send and an accept on sockets are served without them.
	[ "$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")" -eq 1 ]
}

# a pipelined burst of 64 requests in one write is answered in a few
# sends, in order, byte-exact. 13-lean counts its sendmsg calls with
# strace, which sees none of 16's; here the log says it: one "answered"
# line per turn that answered, a handful, not 64 (-DBATCH=0)
check_uring_a_burst_of_64_in_a_few_sends() {
	server_start "$BIN" 0
	local out=$BATS_TEST_TMPDIR/out want=$BATS_TEST_TMPDIR/want
	run -0 --separate-stderr pipelined_burst 64 "$out" "$want"
	cmp "$out" "$want"
	run -0 logged '^answered from request '
	echo "$output turns answered 64 requests"
	[ "$output" -le 8 ]
}

# a client that resets mid-request, or leaves mid-body, is closed (the
# reset logged, with whatever address getpeername could still give) and
# the next one served
check_uring_a_client_resets_mid_request() {
	server_start "$BIN" 0
	local base req=$'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nab'
	base=$(fd_count "$SERVER_PID")
	run -0 --separate-stderr timeout 20 "$COMMON/peer" \
		-s "${req//$'\r\n'/\\r\\n}" -S ${#req} "$SERVER_PORT"
	wait_for 10 fds_are "$base"
	log_matches '^[0-9.]+:[0-9]+: reset by the client$'
	a_client_leaves_mid_body
}
