#!/usr/bin/env bats
# Chapter 06: reading correctly. Read until EAGAIN, an incremental parser
# whose errors are answered, the body counted against Content-Length, end
# of stream, resets and errors that end one connection, EINTR, and tokens
# made of a slot and a generation. The answer is still one send after an
# EPOLLOUT event, as in chapter 05; chapter 07 writes.

load helper
load http
load io

DIR=$TOP/chapters/06-reading
BIN=$DIR/server

@test "a bad command line gets a usage line and status 2" {
	refuses_with_usage "usage: server [-q] [PORT]" -x abc 65536 "8000 9000"
}

@test "GET / is Hello, anything else 404, and HEAD gets GET's head without the body" {
	server_start "$BIN" 0
	local url=http://127.0.0.1:$SERVER_PORT want
	run -0 http "$url/" -i
	[ "$(head_of "$output")" = $'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\nConnection: close' ]
	[[ $output == *$'\r\n\r\nHello' ]]
	run -0 http "$url/nowhere" -i
	[ "${lines[0]}" = $'HTTP/1.1 404 Not Found\r' ]
	[ "${lines[-1]}" = 'Not Found' ]
	run -0 http "$url/" -i --data-binary x
	[ "${lines[0]}" = $'HTTP/1.1 404 Not Found\r' ]
	# HEAD: every byte of the head GET would get, Content-Length
	# included, then the server's FIN (ask fails without it).
	local c req cases=(
		'HEAD / HTTP/1.1\r\n\r\n|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n'
		'HEAD /x HTTP/1.1\r\n\r\n|HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\n'
	)
	for c in "${cases[@]}"; do
		req=${c%%|*}
		want=${c#*|}
		want=${want//\\r/$'\r'}
		want=${want//\\n/$'\n'}
		run -0 --separate-stderr ask "$req"
		# run drops the last newline; peer's count covers every byte.
		[ "$output" = "${want%$'\n'}" ] || { echo "$req: got '$output'"; return 1; }
		[[ $stderr == *"received ${#want} bytes, closed by server (eof)"* ]] ||
			{ echo "$req: $stderr"; return 1; }
	done
}

@test "a head that arrives one byte at a time is answered" {
	check_a_head_that_arrives_one_byte_at
}

@test "a 10 MB upload is read whole, far more than 4 KB per wakeup" {
	check_a_10_mb_upload_is_read_whole
}

@test "1000 SIGUSR1 during a large upload: the body is read whole" {
	check_1000_sigusr1_during_a_large_upload
}

@test "a client that resets mid-request is closed quietly, and the next one served" {
	server_start "$BIN" 0
	a_client_resets_mid_request
	[[ $stderr == *"reset by us"* ]]
	alive_and_served
	# A reset is the client's choice: no error line.
	! grep -q ': Connection reset by peer$' "$(log_of SERVER)"
}

@test "a request followed by a half-close is answered, its FIN read with it" {
	check_a_request_and_its_fin_in_one_read
}

@test "a client that leaves mid-body is closed, logged, and the next one served" {
	server_start "$BIN" 0
	a_client_leaves_mid_body
}

@test "malformed requests each get their status, whole, and the server goes on" {
	server_start "$BIN" 0
	local c i many=''
	for ((i = 0; i < 65; i++)); do many+="X-$i: y\\r\\n"; done
	local cases=(
		'400|GET / HTTP/1.1\nHost: x\n\n'
		'400|GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n'
		'400|GET / HTTP/1.1\r\nHost : x\r\n\r\n'
		'400|GET /\0 HTTP/1.1\r\n\r\n'
		'400|GET  / HTTP/1.1\r\n\r\n'
		'400|GET / HTTP/1.10\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'
		'400|POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n'
		'400|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello'
		'501|POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
		'501|POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'
		'505|GET / HTTP/2.0\r\n\r\n'
		"431|GET / HTTP/1.1\\r\\n$many\\r\\n"
	)
	for c in "${cases[@]}"; do
		# peer exits 0 only if the server closed with a FIN, not a reset.
		answered_whole "$c"
		alive_and_served
	done
	[ "$(logged '^answered from request [0-9]+: [45][0-9][0-9]$')" -eq ${#cases[@]} ]
	# A refused request was never whole: no "got all data" for it.
	[ "$(logged '^got all data')" -eq ${#cases[@]} ]
}

@test "strace: read until EAGAIN, then EPOLLOUT and one send, as in chapter 05; EINTR" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	spawn_traced "$trace" -e trace=rt_sigaction,epoll_wait,epoll_pwait,accept4,epoll_ctl,recvfrom,sendto,shutdown,close -- "$BIN" -q 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
	wait_for 10 tracee_idle
	kill -USR1 "$TRACEE_PID"
	wait_for 10 log_has 'status: 0 connections, 1 answered'
	stop_traced || return 1
	# The handler is installed with SA_RESTART, and epoll_wait fails with
	# EINTR all the same (signal(7)).
	grep -qE '^rt_sigaction\(SIGUSR1, \{sa_handler=0x[0-9a-f]+, sa_mask=\[\], sa_flags=[A-Z_|]*SA_RESTART' "$trace"
	grep -qE '^epoll_p?wait\(.*\) += -1 EINTR' "$trace"
	# The listener's token is 0; the connection's, the first slot's with
	# generation 1: 1 << 32.
	local ev='\{events=([A-Z|]+), data=\{u32=[0-9]+, u64=([0-9]+)\}\}'
	run -0 sed -nE \
		-e "s/^epoll_p?wait\([0-9]+, \[$ev\], .* += 1$/wait \2 \1/p" \
		-e 's/^accept4\(.*, SOCK_CLOEXEC\|SOCK_NONBLOCK\) += [0-9]+$/accept4/p' \
		-e "s/^epoll_ctl\([0-9]+, EPOLL_CTL_(ADD|MOD), [0-9]+, $ev\) += 0$/\1 \3 \2/p" \
		-e 's/^epoll_ctl\([0-9]+, EPOLL_CTL_DEL, [0-9]+, NULL\) += 0$/DEL/p' \
		-e 's/^recvfrom\([0-9]+, .*, 0, NULL, NULL\) += 0$/recvfrom 0/p' \
		-e 's/^recvfrom\([0-9]+, .*, 0, NULL, NULL\) += [0-9]+$/recvfrom data/p' \
		-e 's/^recvfrom\([0-9]+, .*, 0, NULL, NULL\) += -1 EAGAIN .*$/recvfrom EAGAIN/p' \
		-e 's/^sendto\([0-9]+, .*, ([0-9]+), MSG_NOSIGNAL, NULL, 0\) += \1$/sendto \1 MSG_NOSIGNAL/p' \
		-e 's/^shutdown\([0-9]+, SHUT_RDWR\) += 0$/shutdown SHUT_RDWR/p' \
		-e 's/^close\([0-9]+\) += 0$/close/p' \
		"$trace"
	# From the listener's registration on (earlier closes are the shell's
	# and the dynamic loader's).
	diff -u - <(printf '%s\n' "${lines[@]}" | sed -n '/^ADD 0 /,$p') <<'EOF'
ADD 0 EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET
wait 0 EPOLLIN
accept4
ADD 4294967296 EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET
MOD 0 EPOLLIN|EPOLLRDHUP|EPOLLONESHOT|EPOLLET
wait 4294967296 EPOLLIN
recvfrom data
recvfrom EAGAIN
MOD 4294967296 EPOLLOUT|EPOLLONESHOT|EPOLLET
wait 4294967296 EPOLLOUT
sendto 88 MSG_NOSIGNAL
shutdown SHUT_RDWR
DEL
close
EOF
}

@test "-q silences every per-request line" {
	server_start "$BIN" -q 0
	alive_and_served
	local base
	base=$(fd_count "$SERVER_PID")
	run -0 ask 'GET / HTTP/2.0\r\n\r\n'
	# A client that leaves mid-body, and one that resets mid-request.
	run -0 timeout 20 "$COMMON/peer" -h \
		-s 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc' "$SERVER_PORT"
	run -0 timeout 20 "$COMMON/peer" -S 40 \
		-s 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc' "$SERVER_PORT"
	wait_for 10 fds_are "$base"
	run -0 cat "$(log_of SERVER)"
	[ "$output" = "listening on 127.0.0.1:$SERVER_PORT" ]
}

@test "the slab drops a token once its slot is reused (stale events in a batch)" {
	local src=$BATS_TEST_TMPDIR/slab.c
	slab_check_build() {
		"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -O1 -g \
			${SANITIZED:+-fsanitize=address,undefined} -I "$DIR" \
			-o "$BATS_TEST_TMPDIR/slab_check" "$COMMON/slab_check.c" "$1"
	}
	slab_check_build "$DIR/slab.c"
	run -0 "$BATS_TEST_TMPDIR/slab_check"
	[[ ${lines[-1]} =~ ^slab_check:\ [0-9]+\ checks,\ 0\ failures$ ]]
	# The check can fail: a slab that never bumps a generation.
	sed 's/if (++slot->gen == 0)/if (slot->gen == 0)/' "$DIR/slab.c" >"$src"
	! cmp -s "$DIR/slab.c" "$src" || { echo "the generation bump was not found"; return 1; }
	slab_check_build "$src"
	run -1 "$BATS_TEST_TMPDIR/slab_check"
	[[ $output == *"FAIL an old token misses the new value"* ]]
}
