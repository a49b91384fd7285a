# tests/lean.bash: the bodies of the tests of what a connection costs
# (chapters 13 on): memory per idle connection and the close path, one
# function per test, so that every later chapter's suite runs them too. A
# suite loads it (`load lean`) after helper, http and keepalive, sets BIN to
# its server, and calls each body from a @test of the same name.

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

check_idle_connections_are_cheap() {
	rss_held 2000
}

check_a_kept_alive_idle_connection_frees_its_request() {
	rss_held 2000 "GET / HTTP/1.1\r\n$HOST_LINE\r\n"
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

check_strace_the_close_path_in_the_fewest_calls() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	spawn_traced "$trace" -e trace=accept4,sendmsg,shutdown,epoll_ctl,close -- \
		"$BIN" -q -b 5 0
	# Read whole, nothing after it: close(2) alone sends the FIN.
	run -0 --separate-stderr ask 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	whole_response 200
	[[ $stderr == *"closed by server (eof)"* ]]
	# Refused (413) before its body was read: the body may be on its way.
	run -0 --separate-stderr ask "POST /echo HTTP/1.1\r\n${HOST_LINE}Content-Length: 10\r\n\r\n"
	whole_response 413
	# Another request after the one that said close: the client sends on.
	run -0 --separate-stderr ask "GET / HTTP/1.1\r\n${HOST_LINE}Connection: close\r\n\r\nGET / HTTP/1.1\r\n$HOST_LINE\r\n"
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

# SETUP: how many descriptors the server adds to epoll at its start
# (default 2: the signalfd and the listener; 3 from chapter 14).
check_strace_a_paused_listener_epoll_refuses_stays_paused() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace n start took lfd setup=${1:-2}
	# As in the test above: accept4 fails three times and no spare can be
	# had, so the listener is paused (EPOLL_CTL_DEL, the epoll_ctl after
	# the SETUP ADDs). Then its return (ADD, the two after that) fails
	# twice: two more rests of 500 ms, then it is back.
	spawn_traced "$trace" -e trace=openat -- "$BIN" -q 0
	stop_traced || return 1
	n=$(grep -c '^openat(' "$trace")
	spawn_traced "$trace" -e trace=listen,accept4,openat,epoll_ctl,epoll_wait \
		-e inject=accept4:error=EMFILE:when=1..3 \
		-e "inject=openat:error=ENFILE:when=$((n + 1))+" \
		-e "inject=epoll_ctl:error=ENOMEM:when=$((setup + 2))..$((setup + 3))" \
		-- "$BIN" -q 0
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
